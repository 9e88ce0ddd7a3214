"""The transactional outbox and its relay, on SQLite and PostgreSQL with the real Kafka.

The relay publishes to the event class's own topic (``crm.contacts`` here), which other
tests share, so each test uses a fresh contact id and only looks at records keyed by it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka_event
from prometheus_client import REGISTRY

from crm_dev.testkit import eventually
from crm_shared.db import Database
from crm_shared.events import (
    CLOUDEVENTS_CONTENT_TYPE,
    ContactDeleted,
    ContactUpdated,
    Topic,
    parse_cloudevent,
)
from crm_shared.kafka import EventProducer
from crm_shared.outbox import Outbox, OutboxClock, OutboxMessage, OutboxRelay

SOURCE = "/crm/shared-tests"
# Longer than any test waits: only the initial pass and kicks make the relay publish.
NO_SWEEP = 60.0


def header(record: Any, name: str) -> bytes | None:
    return next((value for key, value in reversed(record.headers or ()) if key == name), None)


def keyed(contact_id: str) -> Any:
    key = contact_id.encode()
    return lambda record: record.key == key


def updated(contact_id: str, version: int) -> ContactUpdated:
    return ContactUpdated(
        contact_id=contact_id,
        kind="person",
        name=f"Ada v{version}",
        status="prospect",
        version=version,
        changed=["name"],
    )


async def outbox_rows(db: Database) -> list[OutboxMessage]:
    async with db.sessionmaker() as session:
        result = await session.scalars(sa.select(OutboxMessage).order_by(sa.column("seq")))
        return list(result.all())


async def emit_committed(db: Database, outbox: Outbox, *events: Any) -> list[str]:
    async with db.unit_of_work() as session:
        return [outbox.emit(session, data) for data in events]


# --- the outbox row ---------------------------------------------------------------------


async def test_emit_writes_row_with_the_cloudevent_when_committed(database: Database) -> None:
    contact_id = str(uuid.uuid4())
    event_id = (
        await emit_committed(database, Outbox(SOURCE), ContactDeleted(contact_id=contact_id))
    )[0]

    rows = await outbox_rows(database)
    assert len(rows) == 1
    row = rows[0]
    assert row.event_id == event_id
    assert row.topic == "crm.contacts"
    assert row.key == contact_id
    assert row.seq is not None
    stored = parse_cloudevent(row.body.encode())
    assert stored.id == event_id
    assert stored.type == "crm.ContactDeleted.v1"
    assert stored.source == SOURCE
    assert stored.subject == contact_id
    assert stored.payload() == ContactDeleted(contact_id=contact_id)


async def test_emit_with_explicit_event_id(database: Database) -> None:
    contact_id = str(uuid.uuid4())
    wanted = str(uuid.uuid4())
    async with database.unit_of_work() as session:
        got = Outbox(SOURCE).emit(session, ContactDeleted(contact_id=contact_id), event_id=wanted)
    assert got == wanted
    assert [row.event_id for row in await outbox_rows(database)] == [wanted]


async def test_outbox_row_is_invisible_to_others_until_commit(database: Database) -> None:
    async with database.unit_of_work() as session:
        Outbox(SOURCE).emit(session, ContactDeleted(contact_id=str(uuid.uuid4())))
        await session.flush()
        assert await outbox_rows(database) == []  # another connection sees nothing yet
    assert len(await outbox_rows(database)) == 1


async def test_rolled_back_unit_of_work_leaves_no_outbox_row(database: Database) -> None:
    kicks: list[int] = []
    database.on_outbox_commit(lambda: kicks.append(1))

    with pytest.raises(RuntimeError, match="change refused"):
        async with database.unit_of_work() as session:
            Outbox(SOURCE).emit(session, ContactDeleted(contact_id=str(uuid.uuid4())))
            await session.flush()  # the row reached the database inside the transaction
            raise RuntimeError("change refused")

    assert await outbox_rows(database) == []
    assert kicks == [], "the relay must not be woken for a rolled-back transaction"


async def test_commit_hook_runs_only_after_commits_that_wrote_outbox_rows(
    database: Database,
) -> None:
    kicks: list[int] = []
    database.on_outbox_commit(lambda: kicks.append(1))

    async with database.unit_of_work() as session:
        await session.execute(sa.text("SELECT 1"))
    assert kicks == []

    await emit_committed(database, Outbox(SOURCE), ContactDeleted(contact_id=str(uuid.uuid4())))
    assert kicks == [1]

    async with database.unit_of_work() as session:  # the flag does not stick to the pool
        await session.execute(sa.text("SELECT 1"))
    assert kicks == [1]


# --- the relay on the real Kafka ----------------------------------------------------------


async def test_relay_publishes_right_after_commit(
    database: Database, producer: EventProducer, collect: Any
) -> None:
    relay = OutboxRelay(database, producer, sweep_seconds=NO_SWEEP)
    relay.start()
    try:
        await asyncio.sleep(0.3)  # let the initial pass find nothing: the kick must do it
        contact_id = str(uuid.uuid4())
        loop = asyncio.get_running_loop()
        started = loop.time()
        (event_id,) = await emit_committed(
            database, Outbox(SOURCE), ContactDeleted(contact_id=contact_id)
        )
        records = await collect(Topic.CONTACTS.value, keyed(contact_id), count=1, timeout=10)
        elapsed = loop.time() - started
        await eventually(lambda: _no_rows(database), "_no_rows(database)", timeout=5)
    finally:
        await relay.stop()

    assert len(records) == 1
    assert elapsed < NO_SWEEP / 2, "published by the commit's kick, not by a sweep"
    record = records[0]
    assert record.key == contact_id.encode()
    assert header(record, "content-type") == CLOUDEVENTS_CONTENT_TYPE.encode()
    event = parse_cloudevent(record.value)
    assert event.id == event_id
    assert event.subject == contact_id
    assert event.payload() == ContactDeleted(contact_id=contact_id)

    # readable by the official CloudEvents SDK, as CONTRACT.md promises
    sdk_event = from_kafka_event(
        KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)
    )
    assert sdk_event.get_id() == event_id
    assert sdk_event.get_type() == "crm.ContactDeleted.v1"
    assert sdk_event.get_subject() == contact_id
    assert sdk_event.get_specversion() == "1.0"


async def _no_rows(db: Database) -> bool:
    return not await outbox_rows(db)


async def test_rows_left_by_a_crash_are_published_by_the_first_sweep(
    database: Database, producer: EventProducer, collect: Any
) -> None:
    # Committed, but the process "died" before publishing: no relay was listening.
    contact_id = str(uuid.uuid4())
    ids = await emit_committed(
        database, Outbox(SOURCE), *(updated(contact_id, v) for v in (1, 2, 3))
    )
    assert [row.event_id for row in await outbox_rows(database)] == ids

    relay = OutboxRelay(database, producer, sweep_seconds=NO_SWEEP)
    relay.start()
    try:
        records = await collect(Topic.CONTACTS.value, keyed(contact_id), count=3, timeout=10)
        await eventually(lambda: _no_rows(database), "_no_rows(database)", timeout=5)
    finally:
        await relay.stop()

    assert [parse_cloudevent(r.value).id for r in records] == ids
    assert await outbox_rows(database) == []


async def test_flush_returns_how_many_rows_it_published(
    database: Database, producer: EventProducer, collect: Any
) -> None:
    contact_id = str(uuid.uuid4())
    await emit_committed(database, Outbox(SOURCE), *(updated(contact_id, v) for v in range(1, 8)))
    relay = OutboxRelay(database, producer, batch_size=3)  # not started: flush by hand

    assert await relay.flush() == 7  # three batches: 3 + 3 + 1
    assert await outbox_rows(database) == []
    assert await relay.flush() == 0
    records = await collect(Topic.CONTACTS.value, keyed(contact_id), count=7, settle=0.5)
    assert [json.loads(r.value)["data"]["version"] for r in records] == list(range(1, 8))


async def test_relay_publishes_the_body_byte_for_byte(
    database: Database, producer: EventProducer, collect: Any
) -> None:
    contact_id = str(uuid.uuid4())
    data = ContactUpdated(
        contact_id=contact_id,
        kind="person",
        name='Jürgen "Jo" \\ Ünal\n✓',
        status="prospect",
        version=1,
        changed=["name"],
    )
    await emit_committed(database, Outbox(SOURCE), data)
    body = (await outbox_rows(database))[0].body
    assert await OutboxRelay(database, producer).flush() == 1
    (record,) = await collect(Topic.CONTACTS.value, keyed(contact_id), count=1, settle=0.3)
    assert record.value == body.encode()
    assert parse_cloudevent(record.value).payload() == data


async def test_relay_keeps_the_order_of_one_contacts_events(
    database: Database, producer: EventProducer, collect: Any
) -> None:
    contact_id = str(uuid.uuid4())
    outbox = Outbox(SOURCE)
    relay = OutboxRelay(database, producer, sweep_seconds=0.5, batch_size=7)
    relay.start()
    try:
        ids = []
        for version in range(1, 51):  # one commit each, racing the relay's batches
            ids += await emit_committed(database, outbox, updated(contact_id, version))
        records = await collect(
            Topic.CONTACTS.value, keyed(contact_id), count=50, timeout=20, settle=1.0
        )
        await eventually(lambda: _no_rows(database), "_no_rows(database)", timeout=5)
    finally:
        await relay.stop()

    events = [parse_cloudevent(r.value) for r in records]
    assert [e.id for e in events] == ids
    assert [e.payload().version for e in events] == list(range(1, 51))  # type: ignore[attr-defined]
    assert len({r.partition for r in records}) == 1


async def test_stopped_relay_leaves_rows_for_the_next_start(
    database: Database, producer: EventProducer
) -> None:
    relay = OutboxRelay(database, producer, sweep_seconds=NO_SWEEP)
    relay.start()
    await relay.stop()
    await emit_committed(database, Outbox(SOURCE), ContactDeleted(contact_id=str(uuid.uuid4())))
    await asyncio.sleep(0.3)
    assert len(await outbox_rows(database)) == 1


async def test_two_relays_on_one_postgresql_database_publish_each_row_once(
    pg_database: str, kafka_bootstrap: str, collect: Any
) -> None:
    # Two replicas of one service: separate engines and producers, one database.
    db_a, db_b = Database(pg_database), Database(pg_database)
    async with db_a.engine.begin() as conn:
        await conn.run_sync(
            lambda sync: OutboxMessage.metadata.create_all(
                sync,
                tables=[OutboxMessage.__table__, OutboxClock.__table__],  # type: ignore[list-item]
            )
        )
    producer_a = EventProducer(kafka_bootstrap, client_id="relay-a")
    producer_b = EventProducer(kafka_bootstrap, client_id="relay-b")
    await producer_a.start()
    await producer_b.start()
    contact_id = str(uuid.uuid4())
    outbox = Outbox(SOURCE)
    relays: list[OutboxRelay] = []
    try:
        # a backlog both replicas find at start ...
        ids = await emit_committed(db_a, outbox, *(updated(contact_id, v) for v in range(1, 151)))
        relays = [
            OutboxRelay(db, prod, sweep_seconds=0.1, batch_size=10)
            for db, prod in ((db_a, producer_a), (db_b, producer_b))
        ]
        for relay in relays:
            relay.start()
        # ... and commits on both replicas while they relay
        for version in range(151, 201):
            db = db_a if version % 2 else db_b
            ids += await emit_committed(db, outbox, updated(contact_id, version))

        records = await collect(
            Topic.CONTACTS.value, keyed(contact_id), count=200, timeout=20, settle=2.0
        )
        await eventually(lambda: _no_rows(db_a), "_no_rows(db_a)", timeout=5)
    finally:
        for relay in relays:
            await relay.stop()
        await producer_a.stop()
        await producer_b.stop()
        await db_a.dispose()
        await db_b.dispose()

    published = [parse_cloudevent(r.value).id for r in records]
    duplicates = {i: n for i, n in Counter(published).items() if n > 1}
    assert duplicates == {}
    assert set(published) == set(ids)
    assert published == ids, "one contact's events keep their order across replicas"


def _metric(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def test_flush_counts_published_rows_in_the_metrics(
    database: Database, producer: EventProducer
) -> None:
    contact_id = str(uuid.uuid4())
    await emit_committed(database, Outbox(SOURCE), *(updated(contact_id, v) for v in (1, 2, 3)))
    before = _metric("crm_outbox_published_total")
    assert await OutboxRelay(database, producer).flush() == 3
    assert _metric("crm_outbox_published_total") - before == 3


async def _dead_producer(bootstrap: str) -> EventProducer:
    """A real producer that was closed: it never gets a record acknowledged."""
    producer = EventProducer(bootstrap, client_id="closed")
    await producer.start()
    await producer.stop()
    return producer


async def test_rows_stay_when_kafka_refuses_and_go_out_later(
    database: Database, producer: EventProducer, kafka_bootstrap: str, collect: Any
) -> None:
    contact_id = str(uuid.uuid4())
    ids = await emit_committed(
        database, Outbox(SOURCE), *(updated(contact_id, v) for v in (1, 2, 3))
    )
    closed = await _dead_producer(kafka_bootstrap)

    with pytest.raises(Exception):  # noqa: B017 - no ack in time (or an error)
        await asyncio.wait_for(OutboxRelay(database, closed).flush(), 1.5)
    assert [row.event_id for row in await outbox_rows(database)] == ids

    assert await OutboxRelay(database, producer).flush() == 3
    records = await collect(Topic.CONTACTS.value, keyed(contact_id), count=3, settle=0.5)
    assert [parse_cloudevent(r.value).id for r in records] == ids


async def test_pending_gauge_shows_rows_waiting_while_kafka_refuses(
    database: Database, kafka_bootstrap: str
) -> None:
    await emit_committed(
        database, Outbox(SOURCE), *(updated(str(uuid.uuid4()), v) for v in (1, 2, 3))
    )
    closed = await _dead_producer(kafka_bootstrap)
    with pytest.raises(Exception):  # noqa: B017
        await asyncio.wait_for(OutboxRelay(database, closed).flush(), 1.5)
    assert _metric("crm_outbox_pending") == 3
