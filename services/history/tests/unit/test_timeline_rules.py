"""The CRM timeline as the consumers build it, on SQLite without servers: items from the
events of every service, newest first in keyset pages, and erasure on ContactDeleted."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from history_support import STAFF, History

from crm_history.models import HistoryEntry, TimelineItem
from crm_history.schemas import EntryCreate
from crm_shared.errors import NotFound, Unprocessable
from crm_shared.events import (
    CampaignMemberAdded,
    CloudEvent,
    ContactStatusChanged,
    EventData,
    InteractionLogged,
    ProcedurePlanned,
    StaffRef,
    make_event,
)
from crm_shared.events import ContactCopy as EventContact

# after the contact's ContactCreated (made now)
START = datetime.now(UTC) + timedelta(hours=1)
WHO = StaffRef(staff_id=STAFF.staff_id, name=STAFF.name)


def events_about(contact_id: str) -> list[tuple[EventData, str]]:
    """One event of each of four services, oldest first, with its producer."""
    return [
        (
            ContactStatusChanged(
                contact_id=contact_id, old_status="prospect", status="customer", version=2
            ),
            "/crm/contacts",
        ),
        (
            CampaignMemberAdded(campaign_id="c1", campaign_name="Frühjahr", contact_id=contact_id),
            "/crm/campaigns",
        ),
        (
            InteractionLogged(
                interaction_id="i1",
                contact_id=contact_id,
                topic="Angebot",
                kind="outgoing",
                text="…",
                occurred_at=START,
                recorded_by=WHO,
                contact=EventContact(name="Anna"),
            ),
            "/crm/interactions",
        ),
        (
            ProcedurePlanned(
                procedure_id="p1",
                contact_id=contact_id,
                created_by=WHO,
                type="meeting",
                direction="outgoing",
                state="planned",
                starts_at=START,
                duration_minutes=0,
                reminder=True,
                subject="Vorführung",
            ),
            "/crm/interactions",
        ),
    ]


async def project(history: History, contact_id: str) -> list[CloudEvent]:
    """The events as the consumers hand them to the service, a minute apart."""
    events = [
        make_event(payload, source=source, time=START + timedelta(minutes=number + 1))
        for number, (payload, source) in enumerate(events_about(contact_id))
    ]
    await again(history, events)
    return events


async def again(history: History, events: list[CloudEvent]) -> None:
    for event in events:
        async with history.service() as service:
            await service.project(event, event.payload())


async def test_items_from_every_service_newest_first_in_keyset_pages(history: History) -> None:
    contact = str(uuid.uuid4())
    await history.contact(contact, name="Anna")
    await project(history, contact)
    async with history.service() as service:
        page = await service.timeline(contact, cursor=None, limit=50)
    assert [i.summary for i in page.items] == [
        "Kontaktvorgang (Termin) geplant: Vorführung",
        "Interaktion (ausgehend): Angebot",
        "Kampagne „Frühjahr“ zugeordnet",
        "Status geändert: Interessent → Kunde",
        "Kontakt angelegt (Interessent)",
    ]
    assert [i.source for i in page.items[:4]] == [
        "interactions",
        "interactions",
        "campaigns",
        "contacts",
    ]
    assert page.next_cursor is None
    ones, cursor = [], None
    while True:
        async with history.service() as service:
            one = await service.timeline(contact, cursor=cursor, limit=1)
        ones += one.items
        if (cursor := one.next_cursor) is None:
            break
    assert ones == page.items
    with pytest.raises(Unprocessable):
        async with history.service() as service:
            await service.timeline(contact, cursor="??", limit=1)


async def test_a_replayed_event_adds_no_second_item(history: History) -> None:
    contact = str(uuid.uuid4())
    await history.contact(contact)
    events = await project(history, contact)
    await again(history, events)  # redelivered or replayed: the same event ids
    async with history.service() as service:
        page = await service.timeline(contact, cursor=None, limit=50)
    assert len(page.items) == 5


async def test_contact_deleted_erases_entries_and_timeline_and_nothing_comes_back(
    history: History,
) -> None:
    gone, kept = str(uuid.uuid4()), str(uuid.uuid4())
    for contact in (gone, kept):
        await history.contact(contact)
        await project(history, contact)
        async with history.service() as service:
            await service.create_entry(contact, EntryCreate(text="Notiz"), STAFF)

    async with history.service() as service:
        await service.erase_contact(gone)
    await project(history, gone)  # late events about the erased contact
    await history.contact(gone)  # a late ContactCreated: the tombstone stays

    for read in ("timeline", "entries"):
        with pytest.raises(NotFound):
            async with history.service() as service:
                if read == "timeline":
                    await service.timeline(gone, cursor=None, limit=50)
                else:
                    await service.entries(gone, offset=0, limit=50)
    async with history.db.sessionmaker() as session:
        for model in (TimelineItem, HistoryEntry):
            table = model.__table__  # type: ignore[attr-defined]
            rows = await session.scalars(sa.select(table.c.contact_id).distinct())
            assert set(rows) == {kept}, model.__name__
    async with history.service() as service:
        assert (await service.entries(kept, offset=0, limit=50)).total == 1
