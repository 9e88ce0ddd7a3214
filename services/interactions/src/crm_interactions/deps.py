"""The interactions service's dependencies, typed: the runtime, the services built on a
session (the copies, interactions, procedures, the portal), the loop that sends portal
login links whose contact arrived after they were asked for; and the FastAPI aliases the
routes take (``Deps``, one ``<Thing>ServiceDep`` per service)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from crm_interactions.copies.service import CopyService
from crm_interactions.interactions.service import InteractionService
from crm_interactions.personal_data.service import PersonalDataService
from crm_interactions.portal.service import PortalService
from crm_interactions.procedures.service import ProcedureService
from crm_interactions.settings import Settings
from crm_shared.service import Runtime, ServiceDeps, SessionDep, deps_dependency

log = logging.getLogger(__name__)


@dataclass
class InteractionsDeps(ServiceDeps[Settings]):
    @classmethod
    def build(cls, runtime: Runtime[Settings]) -> InteractionsDeps:
        return cls(runtime)

    def copy_service(self, session: AsyncSession) -> CopyService:
        return CopyService(session, self.runtime)

    def interaction_service(self, session: AsyncSession) -> InteractionService:
        return InteractionService(session, self.runtime.outbox, self.copy_service(session))

    def procedure_service(self, session: AsyncSession) -> ProcedureService:
        return ProcedureService(session, self.runtime.outbox, self.copy_service(session))

    def personal_data_service(self, session: AsyncSession) -> PersonalDataService:
        return PersonalDataService(session, self.copy_service(session))

    def portal_service(self, session: AsyncSession) -> PortalService:
        return PortalService(
            session,
            self.runtime.outbox,
            self.settings,
            copies=self.copy_service(session),
            interactions=self.interaction_service(session),
        )

    async def start(self) -> None:
        self.background.spawn(self._serve_pending_links(), name="pending-login-links")

    async def _serve_pending_links(self) -> None:
        """Send waiting login links whose contact has arrived, every
        ``CRM_INTERACTIONS_PORTAL_PENDING_POLL_SECONDS``, each round in a transaction of
        its own (:meth:`PortalService.serve_pending`)."""
        while True:
            try:
                async with self.runtime.database.unit_of_work() as session:
                    await self.portal_service(session).serve_pending()
            except Exception:
                log.exception("serving waiting login links failed; trying again")
            await asyncio.sleep(self.settings.portal_pending_poll_seconds)


Deps = Annotated[InteractionsDeps, Depends(deps_dependency(InteractionsDeps))]


async def interaction_service(session: SessionDep, deps: Deps) -> InteractionService:
    return deps.interaction_service(session)


async def procedure_service(session: SessionDep, deps: Deps) -> ProcedureService:
    return deps.procedure_service(session)


async def portal_service(session: SessionDep, deps: Deps) -> PortalService:
    return deps.portal_service(session)


async def personal_data_service(session: SessionDep, deps: Deps) -> PersonalDataService:
    return deps.personal_data_service(session)


InteractionServiceDep = Annotated[InteractionService, Depends(interaction_service)]
ProcedureServiceDep = Annotated[ProcedureService, Depends(procedure_service)]
PortalServiceDep = Annotated[PortalService, Depends(portal_service)]
PersonalDataServiceDep = Annotated[PersonalDataService, Depends(personal_data_service)]
