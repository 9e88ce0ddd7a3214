"""The history service's dependencies, typed: the runtime, the client that asks the
contacts service to resolve a job's selection, and the job runner; and the FastAPI
aliases the routes take (``Deps``, ``HistoryServiceDep``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from crm_history.jobs import JobRunner
from crm_history.selections import Selections
from crm_history.service import HistoryService
from crm_history.settings import Settings
from crm_shared.service import Runtime, ServiceDeps, SessionDep, deps_dependency


@dataclass
class HistoryDeps(ServiceDeps[Settings]):
    selections: Selections
    """The contacts service, which resolves selections (streams up to 100,000)."""
    jobs: JobRunner = field(init=False)

    def __post_init__(self) -> None:
        settings = self.settings
        self.jobs = JobRunner(
            self.runtime,
            self.service,
            batch_size=settings.job_batch_size,
            pause_seconds=settings.fault_job_pause_seconds,
        )

    @classmethod
    def build(cls, runtime: Runtime[Settings]) -> HistoryDeps:
        return cls(runtime, selections=Selections(runtime.settings.contacts_url))

    def service(self, session: AsyncSession) -> HistoryService:
        """The history service in ``session``'s transaction."""
        return HistoryService(
            session, self.runtime.outbox, runtime=self.runtime, selections=self.selections
        )

    async def start(self) -> None:
        self.jobs.start()  # resumes jobs a crashed process left running

    async def stop(self) -> None:
        await self.jobs.stop()
        await self.selections.close()
        await super().stop()


Deps = Annotated[HistoryDeps, Depends(deps_dependency(HistoryDeps))]


async def history_service(session: SessionDep, deps: Deps) -> HistoryService:
    return deps.service(session)


HistoryServiceDep = Annotated[HistoryService, Depends(history_service)]
