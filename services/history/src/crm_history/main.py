"""The history service: ``create_app(settings)``."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from crm_history.api import routers
from crm_history.deps import HistoryDeps
from crm_history.handlers import consumers
from crm_history.settings import Settings
from crm_shared.service import create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings or Settings(),
        title="CRM history",
        routers=routers,
        migrations_dir=MIGRATIONS,
        deps=HistoryDeps.build,
        consumers=consumers,
    )
