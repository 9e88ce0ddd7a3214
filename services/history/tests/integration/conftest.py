"""Fixtures of the history service's integration tests."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from crm_dev.testing import create_database


@pytest.fixture(params=["sqlite", "postgresql"])
def db_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Awaitable[str]]:
    """Fresh databases of one kind: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":

        async def sqlite_file() -> str:
            return f"sqlite+aiosqlite:///{tmp_path / uuid.uuid4().hex}.db"

        return sqlite_file
    postgres_url: str = request.getfixturevalue("postgres_url")
    return lambda: create_database(postgres_url)
