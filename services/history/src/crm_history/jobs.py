"""The job runner: works through bulk entries and mailings in the background of the
service process, a batch per transaction.

A job is created by the API with its selection resolved by the contacts service
(:mod:`crm_history.selections`) and kept with the job (``job_selection``: each contact's
status, name, email, language and number as of that moment) and ``done = 0``. The
runner works through the list in batches (:meth:`HistoryService.write_job_batch`, which
holds the rules); each batch is one transaction that writes the batch's entries, their
outbox events and timeline items, **and** advances ``job.done``. A crash therefore loses
at most the batch in flight, which is rolled back and redone: nothing is written twice.
Entry and event ids are derived from (job, contact) as a second guard.

Jobs left ``running`` by a crashed process are picked up when the service starts. A
batch that fails 5 times marks the job ``failed`` with the error.

A job paused by staff (``POST /api/jobs/{id}/pause``, the rule in
:func:`crm_history.service.job_transition`) is not ``running``: the batch in flight
ends, the next finds the job paused and the runner lets go of it; nor is it taken up at
a start. Resuming sets it ``running`` again and kicks the runner, which goes on from
``done``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from crm_history.service import HistoryService, JobPlan
from crm_history.settings import Settings
from crm_shared.service import Runtime

log = logging.getLogger(__name__)

ServiceFactory = Callable[[AsyncSession], HistoryService]


class JobRunner:
    """Works through running jobs; ``service`` gives the service for a transaction."""

    def __init__(
        self,
        runtime: Runtime[Settings],
        service: ServiceFactory,
        *,
        batch_size: int = 1000,
        pause_seconds: float = 0.0,
    ) -> None:
        self.runtime = runtime
        self.service = service
        self.batch_size = batch_size
        self.pause_seconds = pause_seconds  # fault injection for the crash tests
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def kick(self) -> None:
        """Look for work now (called after a job was committed)."""
        self._wake.set()

    def start(self) -> None:
        self._wake.set()  # a job left running by a crash is resumed at once
        self._task = asyncio.create_task(self._loop(), name="history-jobs")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 5.0)
            self._wake.clear()
            try:
                async with self.runtime.database.sessionmaker() as session:
                    job_ids = await self.service(session).running_job_ids()
                for job_id in job_ids:
                    await self.run_job(job_id)
            except Exception:
                log.exception("job runner failed; retrying")
                await asyncio.sleep(1.0)

    async def run_job(self, job_id: str) -> None:
        async with self.runtime.database.sessionmaker() as session:
            plan = await self.service(session).job_plan(job_id)
        if plan is None:
            return
        failures = 0
        while True:
            try:
                finished = await self._batch(plan)
            except Exception as exc:
                failures += 1
                log.exception("job %s: batch failed (%d)", job_id, failures)
                if failures >= 5:
                    await self._fail(job_id, repr(exc))
                    return
                await asyncio.sleep(0.5 * 2**failures)
                continue
            failures = 0
            if finished:
                return
            if self.pause_seconds:
                log.warning("fault injection: job %s pausing %ss", job_id, self.pause_seconds)
                await asyncio.sleep(self.pause_seconds)

    async def _batch(self, plan: JobPlan) -> bool:
        """One batch in one transaction; returns True when the job is finished."""
        async with self.runtime.database.unit_of_work() as session:
            return await self.service(session).write_job_batch(plan, self.batch_size)

    async def _fail(self, job_id: str, error: str) -> None:
        async with self.runtime.database.unit_of_work() as session:
            await self.service(session).fail_job(job_id, error)
