"""The commit clock, the relay's positions, the consumers' record of them and
``wait_for_copy``, on SQLite and PostgreSQL with the real Kafka.

What must hold for a reader to trust "the copy has reached the token": on every
partition, one owner's positions grow in log order, whatever order concurrent writers
inserted their rows in; a commit's token names the position of its last event on each
partition; a consumer's recorded position is the last record it processed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from crm_shared import consistency
from crm_shared.consistency import POSITION_HEADER, CopyBehind, RequestTokens, Token
from crm_shared.consumer import DatabaseDeduplicator, Delivery, EventConsumer
from crm_shared.copies import CopyPositions, wait_for_copy
from crm_shared.db import POSITIONS, Database
from crm_shared.events import ContactDeleted, Topic
from crm_shared.kafka import EventProducer, partition_for
from crm_shared.lag import CaughtUp
from crm_shared.outbox import Outbox, OutboxMessage, OutboxRelay
from crm_shared.service import Runtime
from crm_shared.settings import ServiceSettings

OWNER = "shared-tests"
SOURCE = f"/crm/{OWNER}"


def position_of(record: Any) -> tuple[str, tuple[int, int]] | None:
    for name, value in record.headers or ():
        if name == POSITION_HEADER:
            return consistency.parse_position(value)
    return None


def test_token_parses_merges_and_prints() -> None:
    token = Token.parse("contacts/crm.contacts/2=17.503, contacts/crm.contacts/0=3.9,bad,x/y/z=1")
    assert token == {
        ("contacts", "crm.contacts", 2): (17, 503),
        ("contacts", "crm.contacts", 0): (3, 9),
    }
    token.merge({("contacts", "crm.contacts", 2): (17, 400), ("gateway", "crm.staff", 1): (1, 1)})
    assert token[("contacts", "crm.contacts", 2)] == (17, 503), "an older position never wins"
    assert token.header() == (
        "contacts/crm.contacts/0=3.9,contacts/crm.contacts/2=17.503,gateway/crm.staff/1=1.1"
    )
    assert Token.parse(token.header()) == token
    assert Token.parse(None) == {} and Token.parse("") == {}
    assert [entry for entry, _ in token.on("crm.contacts", [2])] == [
        ("contacts", "crm.contacts", 2)
    ]


async def test_positions_follow_commit_order_not_insert_order(
    database: Database, producer: EventProducer
) -> None:
    """The writer that inserted first but commits last gets the later clock."""
    relay = OutboxRelay(database, producer, owner=OWNER)
    outbox = Outbox(SOURCE)
    first_inserted = asyncio.Event()
    release = asyncio.Event()
    early, late = str(uuid.uuid4()), str(uuid.uuid4())

    async def slow_writer() -> None:
        async with database.unit_of_work() as session:
            outbox.emit(session, ContactDeleted(contact_id=late))
            await session.flush()
            first_inserted.set()
            await release.wait()

    slow = asyncio.create_task(slow_writer())
    await first_inserted.wait()
    if database.sqlite:  # one writer at a time: the second waits for the first anyway
        release.set()
        await slow
    async with database.unit_of_work() as session:
        outbox.emit(session, ContactDeleted(contact_id=early))
    release.set()
    await slow

    async with database.sessionmaker() as session:
        rows = {
            row.key: (row.clock, row.seq) for row in await session.scalars(sa.select(OutboxMessage))
        }
    if not database.sqlite:
        assert rows[late][1] < rows[early][1], "the slow writer inserted first"
        assert rows[late][0] > rows[early][0], "but it committed last: the later clock"
    assert await relay.flush() == 2


async def test_each_partition_sees_one_owners_positions_grow_and_commits_name_the_last(
    database: Database, producer: EventProducer, collect: Any
) -> None:
    relay = OutboxRelay(database, producer, owner=OWNER, batch_size=7)
    outbox = Outbox(SOURCE)
    keys = [str(uuid.uuid4()) for _ in range(12)]
    tokens: list[Token] = []

    async def writer(n: int) -> None:
        for round_ in range(4):
            request = RequestTokens()
            reset = consistency._request.set(request)
            try:
                async with database.unit_of_work() as session:
                    for key in keys[(n + round_) % 12 : (n + round_) % 12 + 3]:
                        outbox.emit(session, ContactDeleted(contact_id=key))
                    await asyncio.sleep(0.001 * ((n * 7 + round_) % 5))
                    stamped = session
            finally:
                consistency._request.reset(reset)
            assert request.written == stamped.info[POSITIONS]
            tokens.append(request.written)

    flushing = asyncio.create_task(_flush_while(relay, lambda: len(tokens) < 24))
    await asyncio.gather(*(writer(n) for n in range(6)))
    await flushing
    await relay.flush()

    wanted = set(keys)
    records = await collect(
        Topic.CONTACTS.value, lambda r: r.key.decode() in wanted, count=72, timeout=15
    )
    assert len(records) == 72
    by_partition: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for record in records:
        owner, position = position_of(record) or ("", (0, 0))
        assert owner == OWNER
        by_partition[record.partition].append(position)
    for positions in by_partition.values():
        assert positions == sorted(positions), "positions grow in log order"
        assert len(set(positions)) == len(positions)
    # every commit's token names, per partition, a position that is on that partition
    partitions = await producer.partitions(Topic.CONTACTS.value)
    for token in tokens:
        for (owner, topic, partition), position in token.items():
            assert (owner, topic) == (OWNER, Topic.CONTACTS.value)
            assert position in by_partition[partition]
    # and the key's partition is the one the producer chose
    for record in records:
        assert record.partition == partition_for(record.key, partitions)


async def _flush_while(relay: OutboxRelay, busy: Any) -> None:
    while busy():
        await relay.flush()
        await asyncio.sleep(0.002)


async def test_consumer_records_positions_and_readers_wait_for_them(
    database: Database, producer: EventProducer, collect: Any
) -> None:
    relay = OutboxRelay(database, producer, owner=OWNER)
    outbox = Outbox(SOURCE)
    contact = str(uuid.uuid4())
    request = RequestTokens()
    reset = consistency._request.set(request)
    try:
        async with database.unit_of_work() as session:
            outbox.emit(session, ContactDeleted(contact_id=contact))
    finally:
        consistency._request.reset(reset)
    await relay.flush()
    (record,) = await collect(Topic.CONTACTS.value, lambda r: r.key == contact.encode(), count=1)

    settings = ServiceSettings(service_name=f"reader-{uuid.uuid4().hex[:6]}", copy_wait_seconds=0.5)
    runtime = Runtime(settings=settings, producer=producer, outbox=outbox, db=database)
    runtime.consumed = {(settings.service_name, Topic.CONTACTS.value)}
    seen: list[str] = []

    async def handler(delivery: Delivery) -> None:
        seen.append(delivery.payload_as(ContactDeleted).contact_id)

    consumer = EventConsumer(
        topic=Topic.CONTACTS.value,
        group_id=settings.service_name,
        handlers={"ContactDeleted": handler},
        dedupe=DatabaseDeduplicator(database),
        producer=producer,
    )

    async def read(keys: list[str] | None) -> Any:
        reset = consistency._request.set(RequestTokens(seen=Token(request.written)))
        try:
            return await wait_for_copy(runtime, Topic.CONTACTS.value, keys=keys)
        finally:
            consistency._request.reset(reset)

    with pytest.raises(CopyBehind) as behind:
        await read([contact])
    assert behind.value.status == 503 and behind.value.headers == {"Retry-After": "1"}
    partitions = await producer.partitions(Topic.CONTACTS.value)
    other = next(
        key
        for key in (str(uuid.uuid4()) for _ in range(100))
        if partition_for(key.encode(), partitions) != record.partition
    )
    assert await read([other]) is None, "a key on another partition does not wait"

    await consumer.process([record])
    assert seen == [contact]
    assert await read([contact]) is None
    assert await read(None) is None
    # a new process (no cache) reads the recorded position from the database
    CopyPositions.of(database)._known.clear()
    assert await read([contact]) is None
    with pytest.raises(RuntimeError, match=r"keeps no copy of crm\.staff"):
        await wait_for_copy(runtime, Topic.STAFF.value)


async def test_skipped_records_move_the_position_too(
    database: Database, producer: EventProducer, collect: Any
) -> None:
    """A consumer with no handler for an event still records that it got past it, or a
    reader whose token names that event would wait forever."""
    relay = OutboxRelay(database, producer, owner=OWNER)
    contact = str(uuid.uuid4())
    async with database.unit_of_work() as session:
        Outbox(SOURCE).emit(session, ContactDeleted(contact_id=contact))
        stamped = session
    await relay.flush()
    (record,) = await collect(Topic.CONTACTS.value, lambda r: r.key == contact.encode(), count=1)
    group = f"skipper-{uuid.uuid4().hex[:6]}"
    consumer = EventConsumer(
        topic=Topic.CONTACTS.value,
        group_id=group,
        handlers={},
        dedupe=DatabaseDeduplicator(database),
        producer=producer,
    )
    await consumer.process([record])
    ((entry, position),) = stamped.info[POSITIONS].items()
    positions = CopyPositions.of(database)
    assert await positions.behind(group, [(entry, position)]) == [], "at once in this process"
    await asyncio.sleep(positions.WRITE_SKIPPED_AFTER + 0.5)
    positions._known.clear()  # another process: only the database tells
    assert await positions.behind(group, [(entry, position)]) == []


async def test_a_missing_row_is_missing_once_the_consumer_has_caught_up(
    database: Database, producer: EventProducer, kafka_bootstrap: str
) -> None:
    """A read of a row not in the copy waits for it (it may be on its way) until the
    deadline; but once the group's committed offsets reach the ends of the key's
    partitions, every event published before is in the copy: missing, at once."""
    topic = f"test.caught-up.{uuid.uuid4().hex[:8]}"  # the services' groups never see it
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()
    group = f"reader-{uuid.uuid4().hex[:6]}"
    settings = ServiceSettings(service_name=group, copy_wait_seconds=2.0)
    runtime = Runtime(settings=settings, producer=producer, outbox=Outbox(SOURCE), db=database)
    runtime.consumed = {(group, topic)}
    caught_up = runtime.caught_up = CaughtUp(kafka_bootstrap)
    missing = str(uuid.uuid4())
    await producer.send(topic, b"{}", key=missing.encode(), headers=[])  # not processed

    async def read() -> tuple[Any, float]:
        started = time.monotonic()
        rows = await wait_for_copy(runtime, topic, keys=[missing], load=_nothing)
        return rows, time.monotonic() - started

    try:
        rows, took = await read()
        assert rows is None and took >= 2.0, "behind: the whole wait, in case it comes"

        partitions = [TopicPartition(topic, p) for p in await producer.partitions(topic)]
        committer = AIOKafkaConsumer(
            bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False
        )
        await committer.start()
        try:
            committer.assign(partitions)
            ends = await committer.end_offsets(partitions)
            await committer.commit(dict(ends))
        finally:
            await committer.stop()
        rows, took = await read()
        assert rows is None and took < 1.5, f"caught up: missing after {took:.2f} s"
    finally:
        await caught_up.close()


async def _nothing(session: Any) -> None:
    return None
