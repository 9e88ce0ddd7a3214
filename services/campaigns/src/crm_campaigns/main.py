"""The campaigns service: ``create_app(settings)``."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from crm_campaigns.campaigns.api import router as campaigns_router
from crm_campaigns.crm_settings.api import router as crm_settings_router
from crm_campaigns.dashboard.api import router as dashboard_router
from crm_campaigns.deps import CampaignsDeps
from crm_campaigns.handlers import consumers
from crm_campaigns.opportunities.api import router as opportunities_router
from crm_campaigns.personal_data.api import router as personal_data_router
from crm_campaigns.settings import Settings
from crm_shared.service import create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings or Settings(),
        title="CRM campaigns",
        routers=[
            campaigns_router,
            crm_settings_router,
            opportunities_router,
            dashboard_router,
            personal_data_router,
        ],
        migrations_dir=MIGRATIONS,
        deps=CampaignsDeps.build,
        consumers=consumers,
    )
