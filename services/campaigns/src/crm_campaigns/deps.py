"""The campaigns service's dependencies, typed: the runtime and the compactor that folds
the dashboard's totals (PostgreSQL); and the FastAPI aliases the routes take, one per
service class."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from crm_campaigns.campaigns.service import CampaignService
from crm_campaigns.crm_settings.service import CrmSettingsService
from crm_campaigns.dashboard.facts import fill_missing_facts
from crm_campaigns.dashboard.rollup import Compactor
from crm_campaigns.dashboard.service import DashboardService
from crm_campaigns.opportunities.service import OpportunityService
from crm_campaigns.personal_data.service import PersonalDataService
from crm_campaigns.settings import Settings
from crm_shared.service import Runtime, ServiceDeps, SessionDep, deps_dependency


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
            self.background.spawn(self.compactor.run(), name="dashboard-rollup-compactor")
        async with self.runtime.database.unit_of_work() as session:
            await CrmSettingsService(session, self.runtime).announce_current()


Deps = Annotated[CampaignsDeps, Depends(deps_dependency(CampaignsDeps))]


async def _campaign_service(session: SessionDep, deps: Deps) -> CampaignService:
    return CampaignService(session, deps.runtime)


async def _opportunity_service(session: SessionDep, deps: Deps) -> OpportunityService:
    return OpportunityService(session, deps.runtime)


async def _crm_settings_service(session: SessionDep, deps: Deps) -> CrmSettingsService:
    return CrmSettingsService(session, deps.runtime)


async def _dashboard_service(session: SessionDep, deps: Deps) -> DashboardService:
    return DashboardService(session, deps.runtime)


async def _personal_data_service(session: SessionDep, deps: Deps) -> PersonalDataService:
    return PersonalDataService(session, deps.runtime)


CampaignServiceDep = Annotated[CampaignService, Depends(_campaign_service)]
OpportunityServiceDep = Annotated[OpportunityService, Depends(_opportunity_service)]
CrmSettingsServiceDep = Annotated[CrmSettingsService, Depends(_crm_settings_service)]
DashboardServiceDep = Annotated[DashboardService, Depends(_dashboard_service)]
PersonalDataServiceDep = Annotated[PersonalDataService, Depends(_personal_data_service)]
