"""The history service: ``create_app(settings)``."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from crm_history.api import routers
from crm_history.handlers import consumers
from crm_history.jobs import JobRunner
from crm_history.settings import Settings
from crm_shared.service import Runtime, create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    async def start_jobs(runtime: Runtime) -> None:
        # resolving a selection streams up to 100,000 contacts: a long read timeout
        runtime.state["http"] = httpx.AsyncClient(timeout=httpx.Timeout(300, connect=5))
        runner = JobRunner(
            runtime,
            batch_size=settings.job_batch_size,
            pause_seconds=settings.fault_job_pause_seconds,
        )
        runtime.state["jobs"] = runner
        runner.start()  # resumes jobs a crashed process left running

    async def stop_jobs(runtime: Runtime) -> None:
        await runtime.state["jobs"].stop()
        await runtime.state["http"].aclose()

    return create_service_app(
        settings,
        title="CRM history",
        routers=routers,
        migrations_dir=MIGRATIONS,
        consumers=consumers,
        on_start=[start_jobs],
        on_stop=[stop_jobs],
    )
