"""The interactions service: ``create_app(settings)``."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from crm_interactions.deps import InteractionsDeps
from crm_interactions.handlers import consumers
from crm_interactions.interactions import api as interactions
from crm_interactions.personal_data import api as personal_data
from crm_interactions.portal import api as portal
from crm_interactions.procedures import api as procedures
from crm_interactions.settings import Settings
from crm_shared.service import create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings or Settings(),
        title="CRM interactions",
        routers=[interactions.router, procedures.router, portal.router, personal_data.router],
        migrations_dir=MIGRATIONS,
        deps=InteractionsDeps.build,
        consumers=consumers,
    )
