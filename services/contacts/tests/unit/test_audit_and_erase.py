"""Every contact event of a staff member's request names that staff member (``actor``,
``changed_by``, ``assigned_by``): the audit trail's "who"; and a deleted contact's data
does not come back with a late event (issue 19)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from crm_contacts.copies import ContactCopies
from crm_contacts.main import MIGRATIONS
from crm_contacts.models import HistoryEntryCopy
from crm_contacts.schemas import (
    BulkRequest,
    ContactCreate,
    ContactUpdate,
    Selection,
    StatusChange,
)
from crm_contacts.service import ContactService
from crm_contacts.settings import Settings
from crm_dev.rules import emitted
from crm_dev.testing import RulesDb
from crm_shared.auth import StaffClaims
from crm_shared.db import Database
from crm_shared.events import HistoryEntryCreated, Topic
from crm_shared.outbox import Outbox
from crm_shared.service import Runtime

ANNA = StaffClaims(staff_id="s-anna", username="anna", name="Anna Admin", roles=["admin"])


@pytest.fixture
async def rules(rules_db: RulesDb) -> tuple[Database, ContactCopies, Outbox]:
    db = await rules_db(MIGRATIONS)
    settings = Settings(copy_wait_seconds=0.2)
    runtime = Runtime(settings=settings, producer=None, outbox=Outbox(settings.source), db=db)  # type: ignore[arg-type]
    runtime.consumed = {(settings.service_name, topic.value) for topic in Topic}
    return db, ContactCopies(runtime), runtime.outbox


async def run(rules: tuple[Database, ContactCopies, Outbox], action: str, *args: Any) -> Any:
    db, copies, outbox = rules
    async with db.unit_of_work() as session:
        return await getattr(ContactService(session, outbox, copies), action)(*args)


async def test_create_update_status_and_delete_name_the_acting_staff_member(
    rules: tuple[Database, ContactCopies, Outbox],
) -> None:
    contact = await run(rules, "create", ContactCreate(kind="person", name="Erika"), ANNA)
    await run(rules, "update", contact.id, ContactUpdate(phone="+49 1"), ANNA)
    await run(rules, "change_status", contact.id, StatusChange(status="archived"), ANNA)
    await run(rules, "delete", contact.id, ANNA)
    events = await emitted(rules[0])
    assert [e.name for e in events] == [
        "ContactCreated",
        "ContactUpdated",
        "ContactStatusChanged",
        "ContactUpdated",
        "ContactDeleted",
    ]
    who = {"staff_id": "s-anna", "name": "Anna Admin", "initials": None, "email": None}
    for e in events:
        data: dict[str, Any] = e.data  # type: ignore[assignment]
        assert data.get("actor", data.get("changed_by")) == who, e.name


async def test_bulk_archive_and_delete_name_the_acting_staff_member(
    rules: tuple[Database, ContactCopies, Outbox],
) -> None:
    contact = await run(rules, "create", ContactCreate(kind="person", name="Erika"), ANNA)
    selection = Selection(contact_ids=[contact.id])
    await run(rules, "bulk", BulkRequest(selection=selection, action="archive"), ANNA)
    await run(rules, "bulk", BulkRequest(selection=selection, action="delete"), ANNA)
    updated, deleted = await emitted(rules[0], "ContactUpdated", "ContactDeleted")
    for e in (updated, deleted):
        assert e.data["actor"]["staff_id"] == "s-anna", e.name  # type: ignore[index]


async def test_without_a_staff_member_there_is_no_actor(
    rules: tuple[Database, ContactCopies, Outbox],
) -> None:
    contact = await run(rules, "create", ContactCreate(kind="person", name="Erika"))
    await run(rules, "delete", contact.id)
    for e in await emitted(rules[0]):
        assert e.data["actor"] is None  # type: ignore[index]


async def test_a_late_history_entry_of_a_deleted_contact_is_not_copied(
    rules: tuple[Database, ContactCopies, Outbox],
) -> None:
    """The history filters' copy of an entry whose event comes after the contact's
    delete (another topic) is not kept: nothing of the person comes back (issue 19)."""
    kept = await run(rules, "create", ContactCreate(kind="person", name="Bleibt"), ANNA)
    gone = await run(rules, "create", ContactCreate(kind="person", name="Geht"), ANNA)
    await run(rules, "delete", gone.id, ANNA)
    entries = [
        HistoryEntryCreated(entry_id=f"e-{c.id}", contact_id=c.id, date=date(2026, 12, 1),
                            field1="Zora Zettel")
        for c in (kept, gone)
    ]  # fmt: skip
    await run(rules, "apply_history_entries", entries)
    async with rules[0].sessionmaker() as session:
        copied = (await session.scalars(sa.select(HistoryEntryCopy.contact_id))).all()
    assert copied == [kept.id]
