"""The notifier service: ``create_app(settings)``.

Emails are guarded in Redis (send-once keys); staff notifications live in its database.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI

from crm_notifier.api import router
from crm_notifier.handlers import consumers
from crm_notifier.mailer import Mailer
from crm_notifier.settings import Settings
from crm_shared.consumer import EventConsumer
from crm_shared.service import Runtime, create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    def wire(runtime: Runtime) -> Sequence[EventConsumer]:
        runtime.state["mailer"] = Mailer(settings, runtime.redis_client, runtime.producer)
        return consumers(runtime)

    async def close_mail(runtime: Runtime) -> None:
        mailer: Mailer = runtime.state["mailer"]
        await mailer.close()

    return create_service_app(
        settings,
        title="CRM notifier",
        routers=[router],
        migrations_dir=MIGRATIONS,
        consumers=wire,
        uses_redis=True,
        on_stop=[close_mail],
    )
