"""The audit trail as the history service's consumers keep it, on SQLite without servers:
who created, changed, re-statused, assigned and deleted a contact and when; a permanent
delete keeps the facts but no personal data (issue 19)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from history_support import History

from crm_dev.rules import deliver
from crm_history.handlers import consumers
from crm_history.models import AuditEntry, TimelineItem
from crm_shared.events import (
    Assignment,
    CloudEvent,
    ContactAssigned,
    ContactCreated,
    ContactDeleted,
    ContactStatusChanged,
    ContactUpdated,
    EventData,
    StaffRef,
    make_event,
)

ANNA = StaffRef(staff_id="s-anna", name="Anna Admin", initials="AA")
BERT = StaffRef(staff_id="s-bert", name="Bert Berater")
NAME, EMAIL, PHONE = "Zacharias Zettel", "zacharias@zettel.example", "+49 30 987654"
START = datetime.now(UTC)


def life_of(contact_id: str) -> list[EventData]:
    """A contact's events from creation to permanent delete, as the contacts service
    emits them."""
    person = {"contact_id": contact_id, "kind": "person", "name": NAME, "email": EMAIL}
    assigned = Assignment(mode="staff", staff_id=BERT.staff_id)
    return [
        ContactCreated(**person, status="prospect", version=1, actor=ANNA),
        ContactUpdated(**person, phone=PHONE, status="prospect", version=2, changed=["phone"],
                       actor=BERT),
        ContactStatusChanged(contact_id=contact_id, old_status="prospect", status="customer",
                             changed_by=ANNA, version=3),
        ContactUpdated(**person, phone=PHONE, status="customer", version=4, changed=["status"],
                       actor=ANNA),
        ContactUpdated(**person, phone=PHONE, status="customer", version=5,
                       changed=["assignment"], assignment=assigned, actor=ANNA),
        ContactAssigned(contact_id=contact_id, contact_name=NAME, assignment=assigned,
                        notify_staff_ids=[BERT.staff_id], assigned_by=ANNA, version=6),
        ContactDeleted(contact_id=contact_id, version=7, actor=BERT),
    ]  # fmt: skip


async def consume(
    history: History, payloads: list[EventData], start: datetime = START
) -> list[CloudEvent]:
    """The events through the service's own handlers, a minute apart, in order."""
    events = [
        make_event(p, source="/crm/contacts", time=start + timedelta(minutes=n))
        for n, p in enumerate(payloads)
    ]
    wired = consumers(history.deps)
    for event in events:
        await deliver(history.db, wired, event)
    return events


async def audit_rows(history: History) -> list[AuditEntry]:
    async with history.db.sessionmaker() as session:
        return list(await session.scalars(sa.select(AuditEntry)))


async def test_who_changed_what_and_when_from_creation_to_delete(history: History) -> None:
    contact = str(uuid.uuid4())
    events = await consume(history, life_of(contact))
    async with history.service() as service:
        page = await service.audit(contact, cursor=None, limit=50)
    seen = [
        (item.action, item.actor.name if item.actor else None, item.detail) for item in page.items
    ]
    assert seen == [
        ("deleted", "Bert Berater", {}),
        ("assigned", "Anna Admin", {"mode": "staff", "staff_id": "s-bert", "competence_id": None}),
        ("updated", "Anna Admin", {"changed": ["assignment"]}),
        ("status", "Anna Admin", {"old_status": "prospect", "status": "customer"}),
        ("updated", "Bert Berater", {"changed": ["phone"]}),
        ("created", "Anna Admin", {"kind": "person", "status": "prospect"}),
    ]
    # when: the event's time; which event: its id (the status-only snapshot has no row)
    assert [item.at for item in page.items] == [e.time for e in events if e.id != events[3].id][
        ::-1
    ]
    assert {item.id for item in page.items} == {e.id for e in events} - {events[3].id}


async def test_a_delete_keeps_the_facts_and_no_personal_data(history: History) -> None:
    contact = str(uuid.uuid4())
    await consume(history, life_of(contact))
    rows = await audit_rows(history)
    assert [r.action for r in rows if r.action == "deleted"] == ["deleted"]
    stored = json.dumps([r.model_dump(mode="json") for r in rows])
    for personal in (NAME, EMAIL, PHONE):
        assert personal not in stored
    async with history.db.sessionmaker() as session:  # the timeline is erased, as before
        assert not list(await session.scalars(sa.select(TimelineItem)))


async def test_a_redelivered_event_adds_no_row(history: History) -> None:
    contact = str(uuid.uuid4())
    events = await consume(history, life_of(contact)[:3])
    wired = consumers(history.deps)
    for event in events:
        await deliver(history.db, wired, event)
    assert len(await audit_rows(history)) == 3


async def test_pages_of_one_contact_or_of_all(history: History) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    await consume(history, life_of(first)[:2])
    await consume(history, life_of(second)[:3], START + timedelta(seconds=30))
    ones, cursor = [], None
    while True:
        async with history.service() as service:
            page = await service.audit(None, cursor=cursor, limit=2)
        ones += page.items
        if (cursor := page.next_cursor) is None:
            break
    assert [(i.contact_id, i.action) for i in ones] == [
        (second, "status"),
        (second, "updated"),
        (first, "updated"),
        (second, "created"),
        (first, "created"),
    ]
    async with history.service() as service:
        only = await service.audit(first, cursor=None, limit=50)
    assert [i.action for i in only.items] == ["updated", "created"]


async def test_events_without_a_staff_member_have_no_actor(history: History) -> None:
    contact = str(uuid.uuid4())
    imported = ContactCreated(
        contact_id=contact, kind="person", name=NAME, status="inbox", version=1
    )
    await consume(history, [imported])
    async with history.service() as service:
        (item,) = (await service.audit(contact, cursor=None, limit=50)).items
    assert (item.action, item.actor) == ("created", None)
