"""The contacts service: ``create_app(settings)`` wires FastAPI, the database and Kafka."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from crm_contacts.api import groups_router, ranges_router, router
from crm_contacts.deps import ContactsDeps
from crm_contacts.handlers import consumers
from crm_contacts.settings import Settings
from crm_shared.service import create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings or Settings(),
        title="CRM contacts",
        routers=[router, ranges_router, groups_router],
        migrations_dir=MIGRATIONS,
        deps=ContactsDeps.build,
        consumers=consumers,
    )
