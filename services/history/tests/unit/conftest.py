"""Fixtures of the history service's unit tests (the fast lane)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crm_dev.testing import RulesDb
from crm_history.main import MIGRATIONS

# The suite imports test modules in importlib mode: make history_support importable.
sys.path.insert(0, str(Path(__file__).parent))

from history_support import History, open_history


@pytest.fixture
async def history(rules_db: RulesDb) -> AsyncIterator[History]:
    """The history service on a fresh migrated SQLite (see ``history_support.py``)."""
    opened = await open_history(await rules_db(MIGRATIONS))
    yield opened
    await opened.selections.close()
