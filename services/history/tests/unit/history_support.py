"""The history service wired as it runs, on a fresh migrated SQLite, without servers:
what the unit tests share (the ``history`` fixture of ``conftest.py`` gives a ``History``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

from crm_history.deps import HistoryDeps
from crm_history.handlers import consumers
from crm_history.schemas import Selection
from crm_history.selections import Selections, Target
from crm_history.service import HistoryService, JobPlan
from crm_history.settings import Settings
from crm_shared.auth import StaffClaims
from crm_shared.db import Database
from crm_shared.events import ContactCreated, ContactSnapshot, make_event
from crm_shared.outbox import Outbox
from crm_shared.service import Runtime

STAFF = StaffClaims(
    staff_id="00000000-0000-0000-0000-0000000000aa",
    username="erika",
    name="Erika Muster",
    initials="EM",
    email="erika@firma.example",
    roles=["crm_user"],
)


class GivenSelections(Selections):
    """Resolves every selection to the contacts a test gives (no contacts service)."""

    def __init__(self) -> None:
        super().__init__("http://contacts.invalid")
        self.targets: list[Target] = []

    async def resolve(self, selection: Selection, authorization: str) -> list[Target]:
        return list(self.targets)


@dataclass
class History:
    db: Database
    deps: HistoryDeps
    selections: GivenSelections

    @asynccontextmanager
    async def service(self) -> AsyncIterator[HistoryService]:
        """The service in a unit of work of its own (committed at the end)."""
        async with self.db.unit_of_work() as session:
            yield self.deps.service(session)

    async def contact(self, contact_id: str, status: str = "prospect", **data: Any) -> None:
        """A contact as its ContactCreated leaves it in the copy (and the timeline)."""
        name = data.pop("name", f"Kontakt {contact_id[:4]}")
        await self.contacts(
            Target(
                id=contact_id,
                status=status,
                name=name,
                email=data.get("email"),
                language="de",
                customer_number=None,
            )
        )

    async def contacts(self, *targets: Target) -> None:
        """Contacts as their ContactCreated leave them in the copy (one consumer batch)."""
        events = [
            make_event(
                ContactCreated(
                    contact_id=t.id,
                    kind="person",
                    name=t.name,
                    email=t.email,
                    status=t.status,
                    customer_number=t.customer_number,
                    version=1,
                ),
                source="/crm/contacts",
            )
            for t in targets
        ]
        async with self.service() as service:
            await service.apply_contacts([(e, cast(ContactSnapshot, e.payload())) for e in events])

    def select(self, targets: Sequence[Target]) -> None:
        self.selections.targets = list(targets)


async def open_history(db: Database) -> History:
    """The service on ``db`` as ``HistoryDeps`` builds it, its contacts resolved by the
    test; a copy that is not there is waited for 0.2 s (not the 5 s of a real service)."""
    settings = Settings(database_url=db.url, copy_wait_seconds=0.2)
    runtime = Runtime(settings=settings, producer=None, outbox=Outbox(settings.source), db=db)  # type: ignore[arg-type]
    selections = GivenSelections()
    deps = HistoryDeps(runtime, selections=selections)
    runtime.consumed = {(c.group_id, c.topic) for c in consumers(deps)}
    return History(db, deps, selections)


def target(status: str = "prospect", email: str | None = "kunde@example.com") -> Target:
    contact_id = str(uuid.uuid4())
    return Target(
        id=contact_id,
        status=status,
        name=f"Kundin {contact_id[:4]}",
        email=email,
        language="de",
        customer_number=None,
    )


async def given(history: History, *targets: Target) -> Selection:
    """The contacts in the copy and as the contacts service resolves the selection."""
    await history.contacts(*targets)
    history.select(targets)
    return Selection(contact_ids=[t.id for t in targets])


async def run(history: History, job_id: str, largest: int = 1000) -> None:
    """What the runner does: the job's plan, then a batch per transaction until done."""
    async with history.db.sessionmaker() as session:
        plan = await history.deps.service(session).job_plan(job_id)
    assert plan is not None
    while not await batch(history, plan, largest):
        pass


async def batch(history: History, plan: JobPlan, largest: int) -> bool:
    async with history.service() as service:
        return await service.write_job_batch(plan, largest)
