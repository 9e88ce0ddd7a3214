"""The interactions service: ``create_app(settings)``."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from fastapi import FastAPI

from crm_interactions.api import procedures, router
from crm_interactions.handlers import consumers
from crm_interactions.portal import serve_pending_links
from crm_interactions.portal_api import router as portal_router
from crm_interactions.settings import Settings
from crm_shared.service import Runtime, create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    async def start_pending_links(runtime: Runtime) -> None:
        runtime.state["pending_links"] = asyncio.create_task(
            serve_pending_links(runtime, every=settings.portal_pending_poll_seconds),
            name="pending-login-links",
        )

    async def stop_pending_links(runtime: Runtime) -> None:
        task: asyncio.Task[None] = runtime.state["pending_links"]
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return create_service_app(
        settings,
        title="CRM interactions",
        routers=[router, procedures, portal_router],
        migrations_dir=MIGRATIONS,
        consumers=consumers,
        on_start=[start_pending_links],
        on_stop=[stop_pending_links],
    )
