"""The reminders service's dependencies, typed: the runtime, the Redis schedule and what
fires it (the scheduler and the sweep that repairs it); the FastAPI aliases of the routes.

``rebuild_schedule`` is imported from here by ``crm reminders rebuild``."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from crm_reminders.schedule import Claim, ReminderSchedule, Scheduler
from crm_reminders.service import ReminderService
from crm_reminders.service import rebuild_schedule as rebuild_schedule  # for the crm CLI
from crm_reminders.settings import Settings
from crm_shared.service import Runtime, ServiceDeps, SessionDep, deps_dependency

log = logging.getLogger(__name__)


@dataclass
class RemindersDeps(ServiceDeps[Settings]):
    """At start the Redis schedule is rebuilt from the database (every stage still to
    fire), then the scheduler claims due entries; a sweep re-adds what is due soon every
    ``sweep_seconds`` in case Redis lost an entry (a restart without persistence)."""

    schedule: ReminderSchedule
    scheduler: Scheduler | None = None

    @classmethod
    def build(cls, runtime: Runtime[Settings]) -> RemindersDeps:
        settings = runtime.settings
        schedule = ReminderSchedule(
            runtime.redis_client,
            prefix=settings.redis_prefix,
            lease_seconds=settings.claim_lease_seconds,
        )
        return cls(runtime, schedule)

    def service(self, session: AsyncSession) -> ReminderService:
        return ReminderService(session, self.runtime.outbox, self.schedule)

    async def start(self) -> None:
        db = self.runtime.database
        settings = self.settings

        async def fire(claims: list[Claim]) -> None:
            async with db.unit_of_work() as session:
                await self.service(session).fire(claims, lock=not db.sqlite)

        count = await rebuild_schedule(db, self.schedule)
        log.info("reminder schedule rebuilt from the database: %d stages", count)
        self.scheduler = Scheduler(
            self.schedule, fire, poll_seconds=settings.poll_seconds, batch=settings.claim_batch
        )
        self.scheduler.start()

        async def sweep() -> None:
            while True:
                await asyncio.sleep(settings.sweep_seconds)
                try:
                    horizon = timedelta(seconds=settings.sweep_seconds * 2)
                    await rebuild_schedule(db, self.schedule, horizon=horizon)
                except Exception:
                    log.exception("schedule sweep failed")

        self.background.spawn(sweep(), name="reminder-sweep")

    async def stop(self) -> None:
        if self.scheduler is not None:
            await self.scheduler.stop()
        await super().stop()


Deps = Annotated[RemindersDeps, Depends(deps_dependency(RemindersDeps))]


async def reminder_service(session: SessionDep, deps: Deps) -> ReminderService:
    return deps.service(session)


ReminderServiceDep = Annotated[ReminderService, Depends(reminder_service)]
