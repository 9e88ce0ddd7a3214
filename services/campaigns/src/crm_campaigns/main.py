"""The campaigns service: ``create_app(settings)``."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from crm_campaigns.api import router as campaigns_router
from crm_campaigns.crm_api import router as crm_router
from crm_campaigns.crm_settings import announce_at_start
from crm_campaigns.facts import fill_missing_facts
from crm_campaigns.handlers import consumers
from crm_campaigns.rollup import Compactor
from crm_campaigns.settings import Settings
from crm_shared.service import Runtime, create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


async def write_missing_facts(runtime: Runtime) -> None:
    """Opportunities written before the dashboard facts existed get theirs at start."""
    async with runtime.database.unit_of_work() as session:
        await fill_missing_facts(session)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    compactors: list[Compactor] = []

    async def start_compactor(runtime: Runtime) -> None:
        """Fold the dashboard's totals now (facts written at start) and every few
        seconds from now on (PostgreSQL)."""
        if runtime.database.engine.dialect.name != "postgresql":
            return
        compactor = Compactor(runtime.database, settings.dashboard_fold_seconds)
        await compactor.once()
        compactor.start()
        compactors.append(compactor)

    async def stop_compactor(runtime: Runtime) -> None:
        for compactor in compactors:
            await compactor.stop()

    return create_service_app(
        settings,
        title="CRM campaigns",
        routers=[campaigns_router, crm_router],
        migrations_dir=MIGRATIONS,
        consumers=consumers,
        on_start=[write_missing_facts, start_compactor, announce_at_start],
        on_stop=[stop_compactor],
    )
