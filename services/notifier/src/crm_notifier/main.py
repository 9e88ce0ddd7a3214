"""The notifier service: ``create_app(settings)``.

Emails are guarded in Redis (send-once keys); staff notifications live in its database.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from crm_notifier.api import contacts, router
from crm_notifier.deps import NotifierDeps
from crm_notifier.handlers import consumers
from crm_notifier.settings import Settings
from crm_shared.service import create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings or Settings(),
        title="CRM notifier",
        routers=[router, contacts],
        migrations_dir=MIGRATIONS,
        uses_redis=True,
        deps=NotifierDeps.build,
        consumers=consumers,
    )
