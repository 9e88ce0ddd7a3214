"""The campaigns service's dependencies, typed: the runtime and the compactor that folds
the dashboard's totals (PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from crm_campaigns.crm_settings import announce_at_start
from crm_campaigns.facts import fill_missing_facts
from crm_campaigns.rollup import Compactor
from crm_campaigns.settings import Settings
from crm_shared.service import Runtime, ServiceDeps, deps_dependency


@dataclass
class CampaignsDeps(ServiceDeps[Settings]):
    compactor: Compactor | None
    """Folds the dashboard's totals every few seconds (None on SQLite, which reads the
    facts directly)."""

    @classmethod
    def build(cls, runtime: Runtime[Settings]) -> CampaignsDeps:
        db = runtime.database
        postgres = db.engine.dialect.name == "postgresql"
        compactor = Compactor(db, runtime.settings.dashboard_fold_seconds) if postgres else None
        return cls(runtime, compactor)

    async def start(self) -> None:
        # opportunities written before the dashboard facts existed get theirs
        async with self.runtime.database.unit_of_work() as session:
            await fill_missing_facts(session)
        if self.compactor is not None:  # the facts written just now, folded at once
            await self.compactor.once()
            self.compactor.start()
        await announce_at_start(self.runtime)

    async def stop(self) -> None:
        if self.compactor is not None:
            await self.compactor.stop()
        await super().stop()


Deps = Annotated[CampaignsDeps, Depends(deps_dependency(CampaignsDeps))]
