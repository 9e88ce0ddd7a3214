"""The notifier service: ``create_app(settings)``. No database: Redis guards the sends."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from crm_notifier.handlers import consumers
from crm_notifier.mailer import Mailer
from crm_notifier.settings import Settings
from crm_shared.consumer import EventConsumer
from crm_shared.service import Runtime, create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    def wire(runtime: Runtime) -> Sequence[EventConsumer]:
        runtime.state["mailer"] = Mailer(settings, runtime.redis_client, runtime.producer)
        return consumers(runtime)

    return create_service_app(
        settings,
        title="CRM notifier",
        consumers=wire,
        uses_redis=True,
    )
