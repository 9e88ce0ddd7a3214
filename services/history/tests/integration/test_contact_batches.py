"""Contact events applied in one consumer batch leave what applying them one by one does.

The history service's ``crm.contacts`` consumer takes a run of ContactCreated and
ContactUpdated in one bulk call (an upsert and an insert) and the other contact events
through the ORM, all in the batch's one session. The records are handed to the real
consumer (``EventConsumer.process``, no Kafka in between), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import sqlalchemy as sa
from aiokafka import ConsumerRecord

from crm_history.deps import HistoryDeps
from crm_history.handlers import consumers
from crm_history.main import MIGRATIONS
from crm_history.models import ContactCopy, TimelineItem
from crm_history.settings import Settings
from crm_shared import migrations
from crm_shared.db import Database, table_of
from crm_shared.events import (
    CloudEvent,
    ContactCreated,
    ContactDeleted,
    ContactStatusChanged,
    ContactUpdated,
    EventData,
    Topic,
    make_event,
)
from crm_shared.outbox import Outbox
from crm_shared.service import Runtime


def snapshot(cls: type[Any], contact_id: str, version: int, name: str, status: str) -> Any:
    return cls(contact_id=contact_id, kind="person", name=name, status=status, version=version)


def status(contact_id: str, version: int, old: str, new: str) -> ContactStatusChanged:
    return ContactStatusChanged(contact_id=contact_id, old_status=old, status=new, version=version)


def record(event: CloudEvent, offset: int) -> ConsumerRecord[Any, Any]:
    value = event.to_bytes()
    return ConsumerRecord(
        topic=Topic.CONTACTS.value,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=event.subject.encode() if event.subject else None,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=len(value),
        headers=[],
    )


async def apply(url: str, events: Sequence[CloudEvent], batch_size: int) -> dict[str, Any]:
    """Run the service's contacts consumer over ``events`` in a fresh database; return
    the copies and the timeline it leaves."""
    db = Database(url)
    try:
        await migrations.upgrade(db, MIGRATIONS)
        settings = Settings(database_url=url)
        runtime = Runtime(settings=settings, producer=None, outbox=Outbox("/crm/history"), db=db)  # type: ignore[arg-type]
        deps = HistoryDeps.build(runtime)  # nothing started: the consumer alone is used
        (consumer,) = [c for c in consumers(deps) if c.topic == Topic.CONTACTS]
        consumer.batch_size = batch_size
        await consumer.process([record(event, offset) for offset, event in enumerate(events)])
        await deps.stop()
        copies, items = table_of(ContactCopy), table_of(TimelineItem)
        async with db.sessionmaker() as session:
            result = await session.execute(
                sa.select(copies.c.contact_id, copies.c.name, copies.c.status, copies.c.version)
            )
            copy_rows = {row.contact_id: tuple(row)[1:] for row in result}
            result = await session.execute(sa.select(items.c.id, items.c.contact_id))
            timeline = sorted((row.contact_id, row.id) for row in result)
        return {"copies": copy_rows, "timeline": timeline}
    finally:
        await db.dispose()


async def test_a_batch_of_contact_events_leaves_what_one_by_one_leaves(
    db_urls: Callable[[], Awaitable[str]],
) -> None:
    a, b, c, d = (str(uuid.uuid4()) for _ in range(4))
    payloads: list[EventData] = [
        snapshot(ContactCreated, a, 1, "Anna", "inbox"),
        snapshot(ContactCreated, b, 1, "Bernd", "inbox"),
        status(a, 2, "inbox", "prospect"),  # the ORM loads a's copy in the batch's session
        snapshot(ContactUpdated, a, 5, "Anna Berg", "prospect"),  # the bulk upsert moves it on
        status(a, 4, "prospect", "customer"),  # late: the copy is at 5 (not the stale 2)
        snapshot(ContactUpdated, a, 3, "Anna alt", "inbox"),  # late too
        ContactDeleted(contact_id=b),
        snapshot(ContactUpdated, b, 2, "Bernd", "prospect"),  # after the delete: ignored
        snapshot(ContactUpdated, d, 2, "Dora neu", "prospect"),  # before its ContactCreated
        snapshot(ContactCreated, d, 1, "Dora", "inbox"),
        snapshot(ContactCreated, c, 1, "Carl", "inbox"),
    ]
    events = [make_event(p, source="/crm/contacts") for p in payloads]
    events.insert(5, events[3])  # a redelivered event inside a run

    in_batches = await apply(await db_urls(), events, batch_size=200)
    one_by_one = await apply(await db_urls(), events, batch_size=1)

    assert in_batches == one_by_one
    assert in_batches["copies"] == {
        a: ("Anna Berg", "prospect", 5),
        b: ("", "deleted", 1),
        c: ("Carl", "inbox", 1),
        d: ("Dora neu", "prospect", 2),
    }
    timeline = in_batches["timeline"]
    count = {key: sum(1 for contact_id, _ in timeline if contact_id == key) for key in (a, b, c, d)}
    # created and two status changes (the late one too); ContactUpdated shows no item;
    # the deleted contact's timeline is erased and nothing comes back
    assert count == {a: 3, b: 0, c: 1, d: 1}
