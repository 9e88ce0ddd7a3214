"""The contacts service: ``create_app(settings)`` wires FastAPI, the database and Kafka."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from crm_contacts.api import router
from crm_contacts.settings import Settings
from crm_shared.service import create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        settings, title="CRM contacts", routers=[router], migrations_dir=MIGRATIONS
    )
