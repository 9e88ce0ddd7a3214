"""The idempotent consumer on the real Kafka, with its store on SQLite, PostgreSQL or Redis.

Each test has its own topic (one partition) and consumer group. A test publishes what
it needs and then a *sentinel* event on the same partition: once the sentinel has been
handled, everything published before it has been dealt with too (the consumer processes
one partition in order), so the test can look at the results without sleeping.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from crm_dev.testkit import eventually
from crm_shared.consumer import (
    BatchDeduplicator,
    Bulk,
    DatabaseDeduplicator,
    DeadLetter,
    Deduplicator,
    Delivery,
    EventConsumer,
    ProcessedEvent,
    RedisDeduplicator,
)
from crm_shared.db import Database
from crm_shared.events import (
    CLOUDEVENTS_CONTENT_TYPE,
    CloudEvent,
    ContactDeleted,
    EmailSent,
    dead_letter_topic,
    make_event,
)
from crm_shared.kafka import EventProducer, create_broker

SOURCE = "/crm/shared-tests"

# The handlers' effect: a row per application (no unique key, so a repeat would show).
_effects = sa.MetaData()
EFFECT = sa.Table(
    "test_effect",
    _effects,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("contact_id", sa.String(64), nullable=False),
)


def header(record: Any, name: str) -> bytes | None:
    return next((value for key, value in reversed(record.headers or ()) if key == name), None)


def deleted(contact_id: str | None = None, *, event_id: str | None = None) -> CloudEvent:
    data = ContactDeleted(contact_id=contact_id or str(uuid.uuid4()))
    return make_event(data, source=SOURCE, event_id=event_id)


class Recorder:
    """A handler that writes its effect row and fails for the contacts it is told to."""

    def __init__(
        self,
        *,
        fail: dict[str, int] | None = None,
        error: Callable[[], Exception] = lambda: RuntimeError("handler broke"),
    ) -> None:
        self.calls: list[str] = []
        self.times: list[float] = []
        self.sessions: list[Any] = []
        self._fail = dict(fail or {})  # contact id -> how many calls fail (-1: always)
        self._error = error

    async def __call__(self, delivery: Delivery) -> None:
        self.calls.append(delivery.event.id)
        self.times.append(asyncio.get_running_loop().time())
        self.sessions.append(delivery.session)
        contact_id = delivery.payload.event_subject
        if delivery.session is not None:
            await delivery.session.execute(
                EFFECT.insert().values(event_id=delivery.event.id, contact_id=contact_id)
            )
        left = self._fail.get(contact_id, 0)
        if left:
            self._fail[contact_id] = left - 1
            raise self._error()

    def count(self, event: CloudEvent) -> int:
        return self.calls.count(event.id)


@pytest.fixture
async def effect_db(database: Database) -> Database:
    async with database.engine.begin() as conn:
        await conn.run_sync(_effects.create_all)
    return database


async def effect_rows(db: Database) -> list[tuple[str, str]]:
    async with db.sessionmaker() as session:
        result = await session.execute(
            sa.select(EFFECT.c.event_id, EFFECT.c.contact_id).order_by(EFFECT.c.id)
        )
        return [(row.event_id, row.contact_id) for row in result]


async def processed_ids(db: Database, group_id: str) -> set[str]:
    async with db.sessionmaker() as session:
        result = await session.scalars(
            sa.select(ProcessedEvent.event_id).where(  # type: ignore[call-overload]
                sa.column("consumer") == group_id
            )
        )
        return set(result.all())


RunConsumer = Callable[..., Awaitable[EventConsumer]]


@pytest.fixture
async def run_consumer(
    kafka_bootstrap: str, fresh_topic: str, producer: EventProducer
) -> AsyncIterator[RunConsumer]:
    """Start an EventConsumer on ``fresh_topic`` in a FastStream broker of its own."""
    brokers: list[Any] = []

    async def start(
        handlers: dict[str, Any], dedupe: Deduplicator, **options: Any
    ) -> EventConsumer:
        options.setdefault("backoff_seconds", 0.05)
        consumer = EventConsumer(
            topic=fresh_topic,
            group_id=options.pop("group_id", None) or f"shared-tests-{uuid.uuid4().hex[:10]}",
            handlers=handlers,
            dedupe=dedupe,
            producer=options.pop("producer", producer),
            **options,
        )
        broker = create_broker(kafka_bootstrap, client_id=consumer.group_id)
        consumer.register(broker)
        await broker.start()
        brokers.append(broker)
        return consumer

    try:
        yield start
    finally:
        for broker in brokers:
            await broker.stop()


async def publish(producer: EventProducer, topic: str, *events: CloudEvent) -> None:
    for event in events:
        await producer.publish(topic, event)


# --- deduplication --------------------------------------------------------------------


async def test_repeated_event_id_is_applied_once(
    effect_db: Database,
    run_consumer: RunConsumer,
    producer: EventProducer,
    fresh_topic: str,
    committed_offsets: Any,
) -> None:
    handler = Recorder()
    consumer = await run_consumer({"ContactDeleted": handler}, DatabaseDeduplicator(effect_db))
    contact_id = str(uuid.uuid4())
    event = deleted(contact_id)
    sentinel = deleted(contact_id)

    await publish(producer, fresh_topic, event, event, sentinel)  # the same id twice
    await eventually(lambda: handler.count(sentinel) == 1, "handler.count(sentinel) == 1")

    assert handler.calls == [event.id, sentinel.id]
    assert await effect_rows(effect_db) == [(event.id, contact_id), (sentinel.id, contact_id)]
    assert await processed_ids(effect_db, consumer.group_id) == {event.id, sentinel.id}
    assert all(session is not None for session in handler.sessions)
    outcomes = {
        outcome: consumed(fresh_topic, event.type, outcome)
        for outcome in ("applied", "duplicate", "dead_letter")
    }
    assert outcomes == {"applied": 2, "duplicate": 1, "dead_letter": 0}
    # every offset is committed once handled, the skipped duplicate included
    await offsets_reach(committed_offsets, consumer.group_id, fresh_topic, {0: 3})


def consumed(topic: str, type_: str, outcome: str) -> float:
    labels = {"topic": topic, "type": type_, "outcome": outcome}
    return REGISTRY.get_sample_value("crm_events_consumed_total", labels) or 0.0


async def _equals(awaitable: Awaitable[Any], expected: Any) -> bool:
    return await awaitable == expected


async def offsets_reach(
    committed_offsets: Any, group_id: str, topic: str, expected: dict[int, int]
) -> None:
    """Wait (10 s at most) until the group has committed ``expected`` on the topic."""
    await eventually(
        lambda: _equals(committed_offsets(group_id, topic), expected),
        f"group {group_id} committed {expected} on {topic}",
        timeout=10,
    )


async def test_redelivered_event_is_skipped_per_consumer_group(
    effect_db: Database,
    run_consumer: RunConsumer,
    producer: EventProducer,
    fresh_topic: str,
) -> None:
    # After a crash before the offset commit the group gets the event again: the store
    # already has it, so the effect is not repeated; another group still applies it.
    first = Recorder()
    consumer = await run_consumer({"ContactDeleted": first}, DatabaseDeduplicator(effect_db))
    event = deleted()
    await publish(producer, fresh_topic, event)
    await eventually(lambda: first.count(event) == 1, "first.count(event) == 1")

    dedupe = DatabaseDeduplicator(effect_db)
    applied = await dedupe.run_once(consumer.group_id, event, _fail_if_called)
    assert applied is False
    other_group = await dedupe.run_once("another-service", event, _noop)
    assert other_group is True, "deduplication is per consumer group"


async def _fail_if_called(*_: Any) -> None:
    raise AssertionError("a duplicate's effect must not run")


async def _noop(_: Any) -> None:
    return None


async def test_failed_effect_rolls_back_with_its_processed_mark(effect_db: Database) -> None:
    dedupe = DatabaseDeduplicator(effect_db)
    event = deleted()

    async def effect(session: Any) -> None:
        await session.execute(EFFECT.insert().values(event_id=event.id, contact_id="x"))
        raise RuntimeError("effect failed half way")

    with pytest.raises(RuntimeError, match="half way"):
        await dedupe.run_once("svc", event, effect)
    assert await effect_rows(effect_db) == []
    assert await processed_ids(effect_db, "svc") == set()
    assert await dedupe.run_once("svc", event, _noop) is True  # so a retry is not skipped


async def test_concurrent_duplicates_apply_the_effect_once(effect_db: Database) -> None:
    # Two replicas get the same event at once (e.g. during a rebalance).
    dedupe = DatabaseDeduplicator(effect_db)
    event = deleted()

    async def effect(session: Any) -> None:
        await session.execute(EFFECT.insert().values(event_id=event.id, contact_id="x"))
        await asyncio.sleep(0.3)  # keep the transaction open while the other one runs

    results = await asyncio.gather(
        dedupe.run_once("svc", event, effect),
        dedupe.run_once("svc", event, effect),
        return_exceptions=True,
    )
    # one applies; the other is skipped or fails (and the consumer retries it)
    assert results.count(True) == 1, results
    assert await effect_rows(effect_db) == [(event.id, "x")]
    assert await dedupe.run_once("svc", event, _fail_if_called) is False


async def test_concurrent_batches_with_a_shared_id_apply_it_once(effect_db: Database) -> None:
    # Two replicas get overlapping batches (a rebalance): one commits; the other fails as
    # a whole (and the consumer goes event by event) or finds the ids already done.
    dedupe = DatabaseDeduplicator(effect_db)
    shared, only_a, only_b = deleted(), deleted(), deleted()

    def effect(events: list[CloudEvent]) -> Any:
        async def run(session: Any, fresh: list[bool]) -> None:
            for event, new in zip(events, fresh, strict=True):
                if new:
                    values = {"event_id": event.id, "contact_id": "x"}
                    await session.execute(EFFECT.insert().values(**values))
                    await asyncio.sleep(0.3)  # keep the transaction open meanwhile

        return run

    a, b = [only_a, shared], [shared, only_b]
    results = await asyncio.gather(
        dedupe.run_batch("svc", a, effect(a)),
        dedupe.run_batch("svc", b, effect(b)),
        return_exceptions=True,
    )
    applied = [row[0] for row in await effect_rows(effect_db)]
    assert applied.count(shared.id) == 1, results
    assert any(r == [True, True] for r in results), results


# --- retries and dead letters ------------------------------------------------------------


async def test_failing_handler_is_retried_with_backoff_and_applied_once(
    effect_db: Database,
    run_consumer: RunConsumer,
    producer: EventProducer,
    fresh_topic: str,
    topic_size: Any,
) -> None:
    contact_id = str(uuid.uuid4())
    handler = Recorder(fail={contact_id: 2})
    consumer = await run_consumer(
        {"ContactDeleted": handler},
        DatabaseDeduplicator(effect_db),
        max_attempts=5,
        backoff_seconds=0.1,
    )
    event = deleted(contact_id)
    sentinel = deleted(contact_id)
    await publish(producer, fresh_topic, event, sentinel)
    await eventually(lambda: handler.count(sentinel) == 1, "handler.count(sentinel) == 1")

    assert handler.calls == [event.id, event.id, event.id, sentinel.id]
    gaps = [b - a for a, b in zip(handler.times[:2], handler.times[1:3], strict=True)]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19, f"exponential backoff, got {gaps}"
    # the two failed attempts wrote their row too, but rolled back
    assert await effect_rows(effect_db) == [(event.id, contact_id), (sentinel.id, contact_id)]
    assert await processed_ids(effect_db, consumer.group_id) == {event.id, sentinel.id}
    assert await topic_size(dead_letter_topic(fresh_topic)) == 0


async def test_handler_that_keeps_failing_is_dead_lettered_and_processing_goes_on(
    effect_db: Database,
    run_consumer: RunConsumer,
    producer: EventProducer,
    fresh_topic: str,
    collect: Any,
    committed_offsets: Any,
) -> None:
    broken = str(uuid.uuid4())
    handler = Recorder(fail={broken: -1})
    consumer = await run_consumer(
        {"ContactDeleted": handler}, DatabaseDeduplicator(effect_db), max_attempts=3
    )
    bad = deleted(broken)
    good = deleted()
    await publish(producer, fresh_topic, bad, good)
    await eventually(lambda: handler.count(good) == 1, "handler.count(good) == 1")

    assert handler.count(bad) == 3
    dlq = await collect(dead_letter_topic(fresh_topic), lambda r: True, count=1, settle=0.5)
    assert len(dlq) == 1
    record = dlq[0]
    assert record.value == bad.to_bytes()
    assert record.key == broken.encode()
    assert header(record, "content-type") == CLOUDEVENTS_CONTENT_TYPE.encode()
    assert header(record, "crm-dlq-reason") == b"failed"
    assert b"handler broke" in (header(record, "crm-dlq-error") or b"")
    assert header(record, "crm-dlq-topic") == fresh_topic.encode()
    assert header(record, "crm-dlq-partition") == b"0"
    assert header(record, "crm-dlq-offset") == b"0"
    assert header(record, "crm-dlq-consumer") == consumer.group_id.encode()
    assert header(record, "crm-dlq-event-id") == bad.id.encode()
    assert REGISTRY.get_sample_value("crm_dead_letters_total", {"topic": fresh_topic}) == 1
    assert consumed(fresh_topic, bad.type, "dead_letter") == 1

    assert await effect_rows(effect_db) == [(good.id, good.subject)]
    assert await processed_ids(effect_db, consumer.group_id) == {good.id}
    await offsets_reach(committed_offsets, consumer.group_id, fresh_topic, {0: 2})


async def test_dead_letter_exception_skips_the_retries(
    effect_db: Database,
    run_consumer: RunConsumer,
    producer: EventProducer,
    fresh_topic: str,
    collect: Any,
) -> None:
    hopeless = str(uuid.uuid4())
    handler = Recorder(fail={hopeless: -1}, error=lambda: DeadLetter("contact data unusable"))
    await run_consumer(
        {"ContactDeleted": handler},
        DatabaseDeduplicator(effect_db),
        max_attempts=5,
        backoff_seconds=2.0,  # a retry would make this test slow and the count wrong
    )
    bad = deleted(hopeless)
    good = deleted()
    await publish(producer, fresh_topic, bad, good)
    await eventually(lambda: handler.count(good) == 1, "handler.count(good) == 1", timeout=10)

    assert handler.count(bad) == 1
    dlq = await collect(dead_letter_topic(fresh_topic), lambda r: True, count=1, settle=0.5)
    assert [header(r, "crm-dlq-reason") for r in dlq] == [b"failed"]
    assert b"contact data unusable" in (header(dlq[0], "crm-dlq-error") or b"")
    assert header(dlq[0], "crm-dlq-event-id") == bad.id.encode()


async def test_body_that_is_no_cloudevent_is_dead_lettered_as_malformed(
    effect_db: Database,
    run_consumer: RunConsumer,
    producer: EventProducer,
    fresh_topic: str,
    collect: Any,
) -> None:
    handler = Recorder()
    await run_consumer({"ContactDeleted": handler}, DatabaseDeduplicator(effect_db))
    await producer.send(fresh_topic, b"{not json", key=b"k-1", headers=[])
    good = deleted()
    await publish(producer, fresh_topic, good)
    await eventually(lambda: handler.count(good) == 1, "handler.count(good) == 1")

    assert handler.calls == [good.id]
    dlq = await collect(dead_letter_topic(fresh_topic), lambda r: True, count=1, settle=0.5)
    assert len(dlq) == 1
    assert dlq[0].value == b"{not json"
    assert dlq[0].key == b"k-1"
    assert header(dlq[0], "crm-dlq-reason") == b"malformed"
    assert header(dlq[0], "crm-dlq-event-id") is None


async def test_payload_that_breaks_the_schema_is_dead_lettered_as_invalid(
    effect_db: Database,
    run_consumer: RunConsumer,
    producer: EventProducer,
    fresh_topic: str,
    collect: Any,
) -> None:
    handler = Recorder()
    await run_consumer({"ContactDeleted": handler}, DatabaseDeduplicator(effect_db))
    broken = deleted().model_copy(update={"data": {"contactid": "typo"}})
    good = deleted()
    await publish(producer, fresh_topic, broken, good)
    await eventually(lambda: handler.count(good) == 1, "handler.count(good) == 1")

    assert handler.calls == [good.id]
    dlq = await collect(dead_letter_topic(fresh_topic), lambda r: True, count=1, settle=0.5)
    assert [header(r, "crm-dlq-reason") for r in dlq] == [b"invalid"]
    assert header(dlq[0], "crm-dlq-event-id") == broken.id.encode()
    assert b"contact_id" in (header(dlq[0], "crm-dlq-error") or b"")


async def test_event_without_handler_is_skipped_not_dead_lettered(
    effect_db: Database,
    run_consumer: RunConsumer,
    producer: EventProducer,
    fresh_topic: str,
    topic_size: Any,
    committed_offsets: Any,
) -> None:
    handler = Recorder()
    consumer = await run_consumer({"ContactDeleted": handler}, DatabaseDeduplicator(effect_db))
    contact_id = str(uuid.uuid4())
    other = make_event(
        EmailSent(
            contact_id=contact_id,
            cause_event_id="c",
            template="t",
            recipient="a@example.org",
            message_id="m",
        ),
        source=SOURCE,
    )
    foreign = deleted(contact_id).model_copy(update={"type": "org.example.Something"})
    good = deleted(contact_id)
    await publish(producer, fresh_topic, other, foreign)
    # another group's event with a broken body is that group's to dead-letter, not ours
    await producer.send(fresh_topic, b'{"type": "crm.EmailSent.v1", "id": 7}', key=None, headers=[])
    await publish(producer, fresh_topic, good)
    await eventually(lambda: handler.count(good) == 1, "handler.count(good) == 1")

    assert handler.calls == [good.id]
    assert await topic_size(dead_letter_topic(fresh_topic)) == 0
    assert await processed_ids(effect_db, consumer.group_id) == {good.id}
    assert consumed(fresh_topic, other.type, "ignored") == 2
    await offsets_reach(committed_offsets, consumer.group_id, fresh_topic, {0: 4})


# --- Redis deduplication --------------------------------------------------------------


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def test_redis_deduplicator_runs_an_effect_once_per_consumer(redis: Redis) -> None:
    dedupe = RedisDeduplicator(redis, ttl_seconds=120)
    consumer = f"svc-{uuid.uuid4().hex[:8]}"
    event = deleted()
    calls: list[Any] = []

    async def effect(session: Any) -> None:
        calls.append(session)

    assert await dedupe.run_once(consumer, event, effect) is True
    assert await dedupe.run_once(consumer, event, effect) is False
    assert calls == [None]
    key = f"crm:processed:{consumer}:{event.id}"
    assert 0 < await redis.ttl(key) <= 120
    assert await dedupe.run_once(f"{consumer}-other", event, effect) is True
    assert len(calls) == 2


async def test_redis_deduplicator_does_not_mark_a_failed_effect(redis: Redis) -> None:
    dedupe = RedisDeduplicator(redis)
    consumer = f"svc-{uuid.uuid4().hex[:8]}"
    event = deleted()

    async def broken(_: Any) -> None:
        raise RuntimeError("smtp down")

    with pytest.raises(RuntimeError):
        await dedupe.run_once(consumer, event, broken)
    assert not await redis.exists(f"crm:processed:{consumer}:{event.id}")
    assert await dedupe.run_once(consumer, event, _noop) is True


async def test_consumer_with_redis_deduplicator_skips_a_repeated_id(
    redis: Redis,
    run_consumer: RunConsumer,
    producer: EventProducer,
    fresh_topic: str,
) -> None:
    contact_id = str(uuid.uuid4())
    handler = Recorder(fail={contact_id: 1})  # the first try fails: retried, then marked
    consumer = await run_consumer({"ContactDeleted": handler}, RedisDeduplicator(redis))
    event = deleted(contact_id)
    sentinel = deleted(contact_id)
    await publish(producer, fresh_topic, event, event, sentinel)
    await eventually(lambda: handler.count(sentinel) == 1, "handler.count(sentinel) == 1")

    assert handler.calls == [event.id, event.id, sentinel.id]  # one failure, one success
    assert handler.sessions == [None, None, None]
    for done in (event, sentinel):
        assert await redis.exists(f"crm:processed:{consumer.group_id}:{done.id}")


# --- batches ----------------------------------------------------------------------------
# Events published before the consumer starts reach it in one fetch, so in one batch.


def handled_seconds(topic: str) -> float:
    return REGISTRY.get_sample_value("crm_event_handle_seconds_count", {"topic": topic}) or 0.0


async def test_batch_is_applied_in_one_transaction_in_order_and_once_per_id(
    effect_db: Database,
    run_consumer: RunConsumer,
    producer: EventProducer,
    fresh_topic: str,
    committed_offsets: Any,
) -> None:
    dedupe = DatabaseDeduplicator(effect_db)
    assert isinstance(dedupe, BatchDeduplicator)
    group_id = f"shared-tests-{uuid.uuid4().hex[:10]}"
    contact_id = str(uuid.uuid4())
    events = [deleted(contact_id) for _ in range(20)]
    done_before = events[3]  # as if a redelivered batch: already in the store
    assert await dedupe.run_once(group_id, done_before, _noop) is True
    repeated = events[5]
    sent = [*events[:8], repeated, *events[8:]]  # the same id twice in one batch
    await publish(producer, fresh_topic, *sent)

    handler = Recorder()
    await run_consumer({"ContactDeleted": handler}, dedupe, group_id=group_id)
    await eventually(lambda: handler.count(events[-1]) == 1, "handler.count(events[-1]) == 1")

    expected = [e.id for e in events if e is not done_before]
    assert handler.calls == expected, "each id once, in partition order"
    assert len({id(session) for session in handler.sessions}) == 1, "one transaction"
    assert await effect_rows(effect_db) == [(event_id, contact_id) for event_id in expected]
    assert await processed_ids(effect_db, group_id) == {e.id for e in events}
    outcomes = {o: consumed(fresh_topic, events[0].type, o) for o in ("applied", "duplicate")}
    assert outcomes == {"applied": 19, "duplicate": 2}
    assert handled_seconds(fresh_topic) == 21, "timed per event"
    await offsets_reach(committed_offsets, group_id, fresh_topic, {0: 21})
    # the whole batch again (a crash before the offset commit): nothing is applied twice
    again = await dedupe.run_batch(group_id, sent, _fail_if_called)
    assert again == [False] * len(sent)


class BulkRecorder:
    """A bulk handler: one insert for a run's effect rows; fails for the contacts it is
    told to (the whole call, as a set-based statement would)."""

    def __init__(self, log: list[Any], *, fail: frozenset[str] = frozenset()) -> None:
        self.log = log
        self.runs: list[list[str]] = []
        self.sessions: list[Any] = []
        self._fail = fail

    async def __call__(self, deliveries: Sequence[Delivery]) -> None:
        ids = [delivery.event.id for delivery in deliveries]
        self.runs.append(ids)
        self.log.append(ids)
        self.sessions.extend(delivery.session for delivery in deliveries)
        session = deliveries[0].tx
        rows = [{"event_id": d.event.id, "contact_id": d.payload.event_subject} for d in deliveries]
        await session.execute(EFFECT.insert(), rows)
        if any(d.payload.event_subject in self._fail for d in deliveries):
            raise RuntimeError("bulk handler broke")


async def test_bulk_handler_takes_each_run_of_its_events_in_one_call(
    effect_db: Database,
    run_consumer: RunConsumer,
    producer: EventProducer,
    fresh_topic: str,
    committed_offsets: Any,
) -> None:
    log: list[Any] = []
    bulk = BulkRecorder(log)
    single = Recorder()

    async def email(delivery: Delivery) -> None:
        log.append(delivery.event.id)
        await single(delivery)

    contact_id = str(uuid.uuid4())
    d = [deleted(contact_id) for _ in range(5)]
    mail = make_event(
        EmailSent(cause_event_id="c", template="t", recipient="r@example.com", message_id="m"),
        source=SOURCE,
    )
    # a repeated id inside a run is skipped and does not cut the run
    await publish(producer, fresh_topic, d[0], d[1], d[2], mail, d[3], d[1], d[4])
    consumer = await run_consumer(
        {"ContactDeleted": Bulk(bulk), "EmailSent": email}, DatabaseDeduplicator(effect_db)
    )
    await offsets_reach(committed_offsets, consumer.group_id, fresh_topic, {0: 7})

    assert log == [[d[0].id, d[1].id, d[2].id], mail.id, [d[3].id, d[4].id]]
    assert len({id(session) for session in [*bulk.sessions, *single.sessions]}) == 1
    expected = [d[0], d[1], d[2], mail, d[3], d[4]]
    assert [event_id for event_id, _ in await effect_rows(effect_db)] == [e.id for e in expected]
    assert consumed(fresh_topic, d[0].type, "applied") == 5
    assert consumed(fresh_topic, d[0].type, "duplicate") == 1


async def test_failed_bulk_run_is_applied_event_by_event(
    effect_db: Database,
    run_consumer: RunConsumer,
    producer: EventProducer,
    fresh_topic: str,
    collect: Any,
    committed_offsets: Any,
) -> None:
    broken = str(uuid.uuid4())
    bulk = BulkRecorder([], fail=frozenset({broken}))
    good = [deleted() for _ in range(4)]
    bad = deleted(broken)
    await publish(producer, fresh_topic, good[0], good[1], bad, good[2], good[3])
    consumer = await run_consumer(
        {"ContactDeleted": Bulk(bulk)},
        DatabaseDeduplicator(effect_db),
        max_attempts=3,
        backoff_seconds=0.05,
    )
    await offsets_reach(committed_offsets, consumer.group_id, fresh_topic, {0: 5})

    # the run once, then each event alone; no event is blamed for the run, so the bad one
    # gets all its attempts alone
    assert bulk.runs[0] == [e.id for e in (good[0], good[1], bad, good[2], good[3])]
    assert [run for run in bulk.runs[1:] if run == [bad.id]] == [[bad.id]] * 3
    assert all(len(run) == 1 for run in bulk.runs[1:])
    assert await effect_rows(effect_db) == [(e.id, e.subject) for e in good]
    assert await processed_ids(effect_db, consumer.group_id) == {e.id for e in good}
    dlq = await collect(dead_letter_topic(fresh_topic), lambda r: True, count=1, settle=0.5)
    assert [header(r, "crm-dlq-event-id") for r in dlq] == [bad.id.encode()]


async def test_poison_event_in_a_batch_dead_letters_only_itself(
    effect_db: Database,
    run_consumer: RunConsumer,
    producer: EventProducer,
    fresh_topic: str,
    collect: Any,
    committed_offsets: Any,
) -> None:
    broken = str(uuid.uuid4())
    handler = Recorder(fail={broken: -1})
    contact_id = str(uuid.uuid4())
    before = [deleted(contact_id) for _ in range(3)]
    bad = deleted(broken)
    after = [deleted(contact_id) for _ in range(3)]
    await publish(producer, fresh_topic, *before, bad, *after)
    consumer = await run_consumer(
        {"ContactDeleted": handler},
        DatabaseDeduplicator(effect_db),
        max_attempts=3,
        backoff_seconds=0.1,
    )
    await eventually(lambda: handler.count(after[-1]) >= 1, "handler.count(after[-1]) >= 1")

    # one failed batch attempt, then two more on its own: max_attempts in all
    assert handler.count(bad) == 3
    good = [*before, *after]
    assert await effect_rows(effect_db) == [(e.id, contact_id) for e in good]
    assert await processed_ids(effect_db, consumer.group_id) == {e.id for e in good}
    dlq = await collect(dead_letter_topic(fresh_topic), lambda r: True, count=1, settle=0.5)
    assert [header(r, "crm-dlq-event-id") for r in dlq] == [bad.id.encode()]
    assert header(dlq[0], "crm-dlq-offset") == b"3"
    assert consumed(fresh_topic, bad.type, "applied") == 6
    assert consumed(fresh_topic, bad.type, "dead_letter") == 1
    await offsets_reach(committed_offsets, consumer.group_id, fresh_topic, {0: 7})


async def test_malformed_and_invalid_events_in_a_batch_do_not_hold_up_the_rest(
    effect_db: Database,
    run_consumer: RunConsumer,
    producer: EventProducer,
    fresh_topic: str,
    collect: Any,
) -> None:
    handler = Recorder()
    first, last = deleted(), deleted()
    invalid = deleted().model_copy(update={"data": {"contactid": "typo"}})
    await publish(producer, fresh_topic, first)
    await producer.send(fresh_topic, b"{not json", key=b"k-1", headers=[])
    await publish(producer, fresh_topic, invalid, last)
    await run_consumer({"ContactDeleted": handler}, DatabaseDeduplicator(effect_db))
    await eventually(lambda: handler.count(last) == 1, "handler.count(last) == 1")

    assert handler.calls == [first.id, last.id]
    assert len(set(map(id, handler.sessions))) == 1
    dlq = await collect(dead_letter_topic(fresh_topic), lambda r: True, count=2, settle=0.5)
    assert [header(r, "crm-dlq-reason") for r in dlq] == [b"malformed", b"invalid"]


async def test_store_outage_in_a_batch_waits_and_retries_the_batch(
    effect_db: Database,
    run_consumer: RunConsumer,
    producer: EventProducer,
    fresh_topic: str,
    topic_size: Any,
) -> None:
    # A handler's store access fails as if the database were down: not the events' fault.
    flaky = str(uuid.uuid4())
    handler = Recorder(fail={flaky: 3}, error=lambda: ConnectionError("database down"))
    first, hit, last = deleted(), deleted(flaky), deleted()
    await publish(producer, fresh_topic, first, hit, last)
    consumer = await run_consumer(
        {"ContactDeleted": handler}, DatabaseDeduplicator(effect_db), max_attempts=2
    )
    await eventually(lambda: handler.count(last) == 1, "handler.count(last) == 1", timeout=20)

    # the whole batch is tried again (never event by event) until the store is back
    assert handler.calls == [first.id, hit.id] * 3 + [first.id, hit.id, last.id]
    assert len(set(map(id, handler.sessions))) == 4
    assert await effect_rows(effect_db) == [(e.id, e.subject) for e in (first, hit, last)]
    assert await processed_ids(effect_db, consumer.group_id) == {first.id, hit.id, last.id}
    assert await topic_size(dead_letter_topic(fresh_topic)) == 0


class FlakyProducer:
    """An EventProducer whose first ``failures`` sends fail, as if Kafka were gone."""

    def __init__(self, producer: EventProducer, failures: int) -> None:
        self._producer = producer
        self.failures = failures

    async def send(self, topic: str, value: bytes, *, key: bytes | None, headers: Any) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("kafka gone")
        await self._producer.send(topic, value, key=key, headers=headers)


async def test_batch_whose_dead_letter_cannot_be_written_is_redelivered(
    effect_db: Database,
    run_consumer: RunConsumer,
    producer: EventProducer,
    fresh_topic: str,
    collect: Any,
    committed_offsets: Any,
) -> None:
    broken = str(uuid.uuid4())
    handler = Recorder(fail={broken: -1})
    good, bad, later = deleted(), deleted(broken), deleted()
    await publish(producer, fresh_topic, good, bad, later)
    consumer = await run_consumer(
        {"ContactDeleted": handler},
        DatabaseDeduplicator(effect_db),
        producer=FlakyProducer(producer, failures=1),
        max_attempts=1,
    )
    # the first dead letter fails: nothing is committed and the batch comes again
    await eventually(lambda: handler.count(bad) == 2, "handler.count(bad) == 2", timeout=20)
    await eventually(lambda: handler.count(later) >= 1, "handler.count(later) >= 1")
    await offsets_reach(committed_offsets, consumer.group_id, fresh_topic, {0: 3})

    assert await effect_rows(effect_db) == [(good.id, good.subject), (later.id, later.subject)]
    dlq = await collect(dead_letter_topic(fresh_topic), lambda r: True, count=1, settle=0.5)
    assert [header(r, "crm-dlq-event-id") for r in dlq] == [bad.id.encode()]
    assert consumed(fresh_topic, good.type, "duplicate") >= 1, "the good one came again"


async def test_offsets_of_a_batch_are_committed_only_after_the_hold(
    effect_db: Database,
    run_consumer: RunConsumer,
    producer: EventProducer,
    fresh_topic: str,
    committed_offsets: Any,
) -> None:
    handler = Recorder()
    events = [deleted() for _ in range(3)]
    await publish(producer, fresh_topic, *events)
    consumer = await run_consumer(
        {"ContactDeleted": handler}, DatabaseDeduplicator(effect_db), hold_before_ack_seconds=2
    )
    await eventually(lambda: handler.count(events[-1]) == 1, "handler.count(events[-1]) == 1")
    assert await processed_ids(effect_db, consumer.group_id) == {e.id for e in events}
    assert await committed_offsets(consumer.group_id, fresh_topic) in ({}, {0: -1})
    await offsets_reach(committed_offsets, consumer.group_id, fresh_topic, {0: 3})


async def test_batch_size_one_gives_each_event_its_own_transaction(
    effect_db: Database,
    run_consumer: RunConsumer,
    producer: EventProducer,
    fresh_topic: str,
    committed_offsets: Any,
) -> None:
    handler = Recorder()
    events = [deleted() for _ in range(4)]
    await publish(producer, fresh_topic, *events)
    consumer = await run_consumer(
        {"ContactDeleted": handler}, DatabaseDeduplicator(effect_db), batch_size=1
    )
    await eventually(lambda: handler.count(events[-1]) == 1, "handler.count(events[-1]) == 1")

    assert handler.calls == [e.id for e in events]
    assert len(set(map(id, handler.sessions))) == 4
    await offsets_reach(committed_offsets, consumer.group_id, fresh_topic, {0: 4})


async def test_redis_deduplicated_batch_applies_event_by_event(
    redis: Redis,
    run_consumer: RunConsumer,
    producer: EventProducer,
    fresh_topic: str,
    collect: Any,
    committed_offsets: Any,
) -> None:
    broken = str(uuid.uuid4())
    handler = Recorder(fail={broken: -1})
    first, bad, last = deleted(), deleted(broken), deleted()
    await publish(producer, fresh_topic, first, bad, first, last)
    consumer = await run_consumer(
        {"ContactDeleted": handler}, RedisDeduplicator(redis), max_attempts=2
    )
    await eventually(lambda: handler.count(last) == 1, "handler.count(last) == 1")

    assert handler.calls == [first.id, bad.id, bad.id, last.id]
    dlq = await collect(dead_letter_topic(fresh_topic), lambda r: True, count=1, settle=0.5)
    assert [header(r, "crm-dlq-event-id") for r in dlq] == [bad.id.encode()]
    await offsets_reach(committed_offsets, consumer.group_id, fresh_topic, {0: 4})


# --- concurrency ------------------------------------------------------------------------


async def test_concurrent_consumer_runs_keys_at_once_and_each_key_in_order(
    redis: Redis,
    run_consumer: RunConsumer,
    producer: EventProducer,
    fresh_topic: str,
) -> None:
    contacts = [str(uuid.uuid4()) for _ in range(4)]
    events = [deleted(contact) for _ in range(3) for contact in contacts]
    running: set[str] = set()
    most = 0
    done: list[CloudEvent] = []

    async def slow(delivery: Delivery) -> None:  # a mail server taking its time
        nonlocal most
        contact = delivery.payload.event_subject
        assert contact not in running, "two events of one key at once"
        running.add(contact)
        most = max(most, len(running))
        await asyncio.sleep(0.1)
        running.discard(contact)
        done.append(delivery.event)

    await publish(producer, fresh_topic, *events)
    await run_consumer({"ContactDeleted": slow}, RedisDeduplicator(redis), concurrency=3)
    await eventually(lambda: len(done) == len(events), "len(done) == len(events)")

    assert most == 3  # as many keys at once as allowed, never more
    for contact in contacts:
        mine = [e.id for e in events if e.subject == contact]
        assert [e.id for e in done if e.subject == contact] == mine  # in order per key


async def test_concurrent_consumer_looks_up_and_writes_its_marks_per_batch(
    redis: Redis,
    run_consumer: RunConsumer,
    producer: EventProducer,
    fresh_topic: str,
) -> None:
    group = f"shared-tests-{uuid.uuid4().hex[:10]}"
    events = [deleted(str(uuid.uuid4())) for _ in range(6)]
    handled_before = events[2]
    await redis.set(f"crm:processed:{group}:{handled_before.id}", "1", ex=120)
    handler = Recorder()

    await publish(producer, fresh_topic, *events)
    await run_consumer(
        {"ContactDeleted": handler}, RedisDeduplicator(redis), concurrency=3, group_id=group
    )
    rest = [e for e in events if e is not handled_before]
    await eventually(lambda: len(handler.calls) == len(rest), "len(handler.calls) == 5")

    assert sorted(handler.calls) == sorted(e.id for e in rest)  # the marked one skipped
    await eventually(lambda: all_marked(redis, group, events), "every event marked")


async def all_marked(redis: Redis, group: str, events: list[CloudEvent]) -> bool:
    return await redis.exists(*(f"crm:processed:{group}:{e.id}" for e in events)) == len(events)


def test_events_sharing_a_transaction_cannot_run_concurrently(
    database: Database, producer: EventProducer
) -> None:
    with pytest.raises(ValueError, match="share a transaction"):
        EventConsumer(
            topic="t",
            group_id="g",
            handlers={},
            dedupe=DatabaseDeduplicator(database),
            producer=producer,
            concurrency=2,
        )
