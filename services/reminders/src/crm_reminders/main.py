"""The reminders service: ``create_app(settings)``.

At start the Redis schedule is rebuilt from the database (every stage still to fire),
then the scheduler claims due entries; a sweep re-adds what is due soon every
``sweep_seconds`` in case Redis lost an entry (a restart without persistence).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from crm_reminders.api import router
from crm_reminders.handlers import consumers
from crm_reminders.repository import ReminderRepository
from crm_reminders.schedule import Claim, ReminderSchedule, Scheduler
from crm_reminders.service import ReminderService, stages_of
from crm_reminders.settings import Settings
from crm_shared.db import Database
from crm_shared.events import utcnow
from crm_shared.service import Runtime, create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


async def rebuild_schedule(
    db: Database, schedule: ReminderSchedule, *, horizon: timedelta | None = None
) -> int:
    """Add every stage still to fire (due within ``horizon``, or all) to the schedule.

    Also what ``crm reminders rebuild`` runs (after Redis lost its data)."""
    added = 0
    after: str | None = None
    until = utcnow() + horizon if horizon is not None else None
    while True:
        async with db.sessionmaker() as session:
            rows = await ReminderRepository(session).pending(
                until=until, after_id=after, limit=2000
            )
        if not rows:
            return added
        entries = [(row.id, stage, at) for row in rows for stage, at in stages_of(row)]
        # existing entries keep their place; a stage fired a moment ago is skipped at claim
        await schedule.add(entries, only_new=True)
        added += len(entries)
        after = rows[-1].id


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    async def start(runtime: Runtime) -> None:
        schedule = ReminderSchedule(
            runtime.redis_client,
            prefix=settings.redis_prefix,
            lease_seconds=settings.claim_lease_seconds,
        )
        runtime.state["schedule"] = schedule
        db = runtime.database

        async def fire(claims: list[Claim]) -> None:
            async with db.unit_of_work() as session:
                await ReminderService(session, runtime.outbox, schedule).fire(
                    claims, lock=not db.sqlite
                )

        count = await rebuild_schedule(db, schedule)
        log.info("reminder schedule rebuilt from the database: %d stages", count)
        scheduler = Scheduler(
            schedule, fire, poll_seconds=settings.poll_seconds, batch=settings.claim_batch
        )
        scheduler.start()
        runtime.state["scheduler"] = scheduler

        async def sweep() -> None:
            while True:
                await asyncio.sleep(settings.sweep_seconds)
                try:
                    horizon = timedelta(seconds=settings.sweep_seconds * 2)
                    await rebuild_schedule(db, schedule, horizon=horizon)
                except Exception:
                    log.exception("schedule sweep failed")

        runtime.state["sweep"] = asyncio.create_task(sweep(), name="reminder-sweep")

    async def stop(runtime: Runtime) -> None:
        sweep: asyncio.Task[None] | None = runtime.state.get("sweep")
        if sweep is not None:
            sweep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweep
        scheduler: Scheduler | None = runtime.state.get("scheduler")
        if scheduler is not None:
            await scheduler.stop()

    return create_service_app(
        settings,
        title="CRM reminders",
        routers=[router],
        migrations_dir=MIGRATIONS,
        consumers=consumers,
        uses_redis=True,
        on_start=[start],
        on_stop=[stop],
    )
