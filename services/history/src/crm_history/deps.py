"""The history service's dependencies, typed: the runtime, the client that asks the
contacts service to resolve a job's selection, and the job runner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends

from crm_history.jobs import JobRunner
from crm_history.schemas import Selection
from crm_history.selections import Target, resolve
from crm_history.settings import Settings
from crm_shared.service import Runtime, ServiceDeps, deps_dependency


@dataclass
class HistoryDeps(ServiceDeps[Settings]):
    contacts: httpx.AsyncClient
    """To the contacts service, which resolves selections (streams up to 100,000)."""
    jobs: JobRunner

    @classmethod
    def build(cls, runtime: Runtime[Settings]) -> HistoryDeps:
        settings = runtime.settings
        return cls(
            runtime,
            # resolving a selection streams up to 100,000 contacts: a long read timeout
            contacts=httpx.AsyncClient(timeout=httpx.Timeout(300, connect=5)),
            jobs=JobRunner(
                runtime,
                batch_size=settings.job_batch_size,
                pause_seconds=settings.fault_job_pause_seconds,
            ),
        )

    async def start(self) -> None:
        self.jobs.start()  # resumes jobs a crashed process left running

    async def stop(self) -> None:
        await self.jobs.stop()
        await self.contacts.aclose()
        await super().stop()

    async def resolve(self, selection: Selection, authorization: str) -> list[Target]:
        """The contacts of ``selection`` as they are now, from the contacts service."""
        return await resolve(self.contacts, self.settings.contacts_url, selection, authorization)


Deps = Annotated[HistoryDeps, Depends(deps_dependency(HistoryDeps))]
