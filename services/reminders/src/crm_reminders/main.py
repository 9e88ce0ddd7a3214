"""The reminders service: ``create_app(settings)`` (what runs beside the routes and
consumers: :class:`crm_reminders.deps.RemindersDeps`)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from crm_reminders.api import contacts, router
from crm_reminders.deps import RemindersDeps
from crm_reminders.handlers import consumers
from crm_reminders.settings import Settings
from crm_shared.service import create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings or Settings(),
        title="CRM reminders",
        routers=[router, contacts],
        migrations_dir=MIGRATIONS,
        uses_redis=True,
        deps=RemindersDeps.build,
        consumers=consumers,
    )
