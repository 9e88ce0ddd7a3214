"""The interactions service wired as it runs, on a fresh migrated SQLite, without servers:
what the unit tests share (the ``ix`` fixture of ``conftest.py`` gives an
``Interactions``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from crm_interactions.copies.service import CopyService
from crm_interactions.deps import InteractionsDeps
from crm_interactions.handlers import consumers
from crm_interactions.interactions.service import InteractionService
from crm_interactions.models import CampaignCopy, ContactCopy, StaffCopy
from crm_interactions.portal.service import PortalService
from crm_interactions.procedures.service import ProcedureService
from crm_interactions.settings import Settings
from crm_shared.auth import StaffClaims
from crm_shared.db import Database
from crm_shared.outbox import Outbox
from crm_shared.service import Runtime

BASE = "https://crm.example.com"
T = TypeVar("T")


def staff_claims(
    name: str = "Erika Muster", email: str | None = "erika@firma.example"
) -> StaffClaims:
    """A signed-in staff member, as a token says (the staff copy may know better)."""
    return StaffClaims(
        staff_id=f"staff-{name.split()[0].lower()}",
        username=name.split()[0].lower(),
        name=name,
        initials="".join(part[0] for part in name.split()),
        email=email,
        roles=["crm_user"],
    )


@dataclass
class Interactions:
    db: Database
    deps: InteractionsDeps

    def with_settings(self, **changes: Any) -> Interactions:
        """The same database, the service started with other settings."""
        return open_interactions(self.db, **changes)

    @asynccontextmanager
    async def _within(self, make: Callable[[AsyncSession], T]) -> AsyncIterator[T]:
        """A service in a unit of work of its own (committed at the end)."""
        async with self.db.unit_of_work() as session:
            yield make(session)

    def interactions(self) -> AbstractAsyncContextManager[InteractionService]:
        return self._within(self.deps.interaction_service)

    def procedures(self) -> AbstractAsyncContextManager[ProcedureService]:
        return self._within(self.deps.procedure_service)

    def portal(self) -> AbstractAsyncContextManager[PortalService]:
        return self._within(self.deps.portal_service)

    def copies(self) -> AbstractAsyncContextManager[CopyService]:
        return self._within(self.deps.copy_service)

    async def given(self, *rows: ContactCopy | StaffCopy | CampaignCopy) -> None:
        """Copies as their owners' events left them."""
        async with self.db.unit_of_work() as session:
            session.add_all(rows)


def open_interactions(db: Database, **settings: Any) -> Interactions:
    """The service on ``db`` as ``InteractionsDeps`` builds it; a copy that is not there
    is waited for 0.2 s (not the 5 s of a real service)."""
    config = Settings(database_url=db.url, copy_wait_seconds=0.2, public_url=BASE, **settings)
    runtime = Runtime(settings=config, producer=None, outbox=Outbox(config.source), db=db)  # type: ignore[arg-type]
    deps = InteractionsDeps.build(runtime)
    runtime.consumed = {(c.group_id, c.topic) for c in consumers(deps)}
    return Interactions(db, deps)
