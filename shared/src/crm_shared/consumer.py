"""Idempotent event consumption in batches, with bounded retries and dead letters.

A group's subscriber takes what Kafka has ready, up to ``batch_size`` records (FastStream
``batch=True``, aiokafka ``getmany``), and the :class:`EventConsumer` of each record's
topic:

1. reads each record's event type and skips the types it has no handler for (other
   groups' business: this group neither parses nor dead-letters them);
2. parses the rest as CloudEvents, envelope and typed payload in one pass; a body that
   is not one, or a payload that breaks its schema, goes to ``<topic>.dlq`` at once and
   the others go on;
3. applies the rest through a deduplicator that records the event ids together with the
   effects and skips ids already recorded (or seen earlier in the same batch). In the
   service's database that is **one transaction per batch**: one insert of the ids that
   skips those already there and returns the new ones, the handlers in record order (so in
   partition order) on the same session, one commit. A :class:`Bulk` handler gets a run
   of consecutive events in one call. Redis-deduplicated consumers (no database; their
   effects are external sends) apply event by event;
4. if the batch transaction fails for a reason other than an outage, it is rolled back
   and the batch's events are applied one by one in their own transactions: a failing
   handler is retried with backoff and after ``max_attempts`` only its event goes to
   ``<topic>.dlq`` with the error in its headers; its neighbours are applied;
5. records how far it got: per owner and partition the position (``crm-position``
   header) of the last record it processed, applied or skipped, in the batch's
   transaction (:class:`crm_shared.copies.CopyPositions`; readers wait for it, see
   :func:`crm_shared.copies.wait_for_copy`);
6. commits the Kafka offsets once for the whole batch, after all that
   (``AckPolicy.MANUAL``): a crash anywhere before the commit means redelivery, which
   step 3 makes harmless.

An unreachable database or Redis is not the events' fault: the consumer waits and tries
again, without committing offsets and without dead-lettering. If even a dead letter
cannot be written (Kafka gone), nothing is committed: the consumer seeks back to the
batch's first record on each partition and tries again, so nothing is skipped.

Handlers of one batch share a session, so they must not commit and must not keep
per-transaction state they expect to be alone in; one that cannot share opts out with
``batch_size=1`` (a transaction per event; offsets are still committed per fetch).

FastStream has no dead letters of its own. We keep this in a wrapper around the
subscriber rather than a broker middleware because the deduplication needs the parsed
event and the service's unit of work.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import itertools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

import sqlalchemy as sa
from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from crm_shared import tracing
from crm_shared.consistency import POSITION_HEADER, Position, parse_position
from crm_shared.copies import CopyPositions
from crm_shared.db import Database, is_postgres, table_of, unnest_insert
from crm_shared.events import (
    CloudEvent,
    EventData,
    MalformedEventError,
    dead_letter_topic,
    event_type,
    parse_cloudevent,
    parse_typed,
    registered_events,
    utcnow,
)
from crm_shared.kafka import EventProducer, Headers
from crm_shared.metrics import DEAD_LETTERS, EVENT_HANDLE_SECONDS, EVENTS_CONSUMED
from crm_shared.transient import DeadLetter as DeadLetter  # re-exported: handlers raise it
from crm_shared.transient import is_transient as is_transient

log = logging.getLogger(__name__)

P = TypeVar("P", bound=EventData)


class ProcessedEvent(SQLModel, table=True):
    """An event id a consumer of this service has already applied."""

    __tablename__ = "processed_event"

    consumer: str = Field(sa_column=sa.Column(sa.String(100), primary_key=True))
    event_id: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    processed_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )


_ID_CHUNK = 500  # event ids per lookup query (far below SQLite's bound parameters)


def _processed_table() -> sa.Table:
    table: sa.Table = table_of(ProcessedEvent)
    return table


@dataclass(frozen=True)
class Delivery:
    """One event handed to a handler."""

    event: CloudEvent
    payload: EventData
    session: AsyncSession | None
    """The unit of work the effect is written in (None for Redis-deduplicated consumers)."""

    @property
    def tx(self) -> AsyncSession:
        """The unit of work; only consumers of services with a database have one."""
        if self.session is None:
            raise RuntimeError("this consumer deduplicates in Redis and has no session")
        return self.session

    def payload_as(self, cls: type[P]) -> P:
        """The payload, checked to be a ``cls``."""
        if not isinstance(self.payload, cls):
            raise TypeError(f"expected {cls.__name__}, got {type(self.payload).__name__}")
        return self.payload


Handler = Callable[[Delivery], Awaitable[None]]
Effect = Callable[[AsyncSession | None], Awaitable[None]]
BulkHandler = Callable[[Sequence[Delivery]], Awaitable[None]]


@dataclass(frozen=True)
class Bulk:
    """A handler that takes a run of deliveries at once.

    In a batch, consecutive fresh events whose handler is the same ``Bulk`` reach it in
    one call, in partition order; it must leave the same state as applying them one by
    one would (usually a few set-based statements instead of a few per event: a CSV
    import puts thousands of ``ContactCreated`` in a row on ``crm.contacts``). Called
    with one delivery it is an ordinary handler: the fallback that applies a failed
    batch event by event, and consumers that deduplicate in Redis, use it that way.

    It shares the batch's session with the other handlers. It writes with Core
    statements, so the consumer flushes the session before it and expires the session's
    objects after it: an ORM handler later in the batch reads what it wrote.
    """

    handler: BulkHandler

    async def __call__(self, delivery: Delivery) -> None:
        await self.handler([delivery])


DEFAULT_BATCH_SIZE = 200
"""Events per transaction (and the most records one fetch hands a group's subscriber)."""


class Deduplicator(Protocol):
    """Runs an effect once per (consumer, event id)."""

    async def run_once(self, consumer: str, event: CloudEvent, effect: Effect) -> bool:
        """Run ``effect`` unless already done; returns False when skipped."""
        ...


BatchEffect = Callable[[AsyncSession, Sequence[bool]], Awaitable[None]]
"""Applies, in one unit of work, the events of a batch marked fresh (in order)."""


@runtime_checkable
class BatchDeduplicator(Deduplicator, Protocol):
    """A deduplicator that can apply several events in one unit of work."""

    async def run_batch(
        self,
        consumer: str,
        events: Sequence[CloudEvent],
        effect: BatchEffect,
        then: Effect | None = None,
    ) -> list[bool]:
        """Work out which events are fresh (not done before, nor earlier in the same
        batch), record them and run ``effect`` with those flags, then ``then``, all in
        one unit of work; returns the flags."""
        ...


class DatabaseDeduplicator:
    """Records the event id in the same transaction as the effect."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def positions(self) -> CopyPositions:
        """How far this database's consumers got."""
        return CopyPositions.of(self._db)

    async def run_once(self, consumer: str, event: CloudEvent, effect: Effect) -> bool:
        async with self._db.unit_of_work() as session:
            if await session.get(ProcessedEvent, (consumer, event.id)) is not None:
                return False
            session.add(ProcessedEvent(consumer=consumer, event_id=event.id))
            await session.flush()  # a concurrent duplicate fails here and is retried
            await effect(session)
            return True

    async def run_batch(
        self,
        consumer: str,
        events: Sequence[CloudEvent],
        effect: BatchEffect,
        then: Effect | None = None,
    ) -> list[bool]:
        ids = list(dict.fromkeys(event.id for event in events))
        now = utcnow()
        async with self._db.unit_of_work() as session:
            # The insert is the lookup: an id recorded before (or by a replica whose
            # transaction commits first; PostgreSQL waits for it) is not inserted and so
            # not returned. A lookup query first planned badly as the table grew (a scan
            # per batch: most of PostgreSQL's time behind an import).
            postgres = is_postgres(session)
            params: list[Any]
            if postgres:  # one array parameter
                params = [{"event_id": ids, "consumer": consumer, "processed_at": now}]
            else:  # rows of bound values, within SQLite's limit
                params = [
                    [
                        {"consumer": consumer, "event_id": event_id, "processed_at": now}
                        for event_id in ids[start : start + _ID_CHUNK]
                    ]
                    for start in range(0, len(ids), _ID_CHUNK)
                ]
            insert = _record_ids(postgres)
            new_ids: set[str] = set()
            for chunk in params:
                new_ids.update((await session.scalars(insert, chunk)).all())
            fresh: list[bool] = []
            for event in events:
                fresh.append(event.id in new_ids)
                new_ids.discard(event.id)  # a repeat later in the batch is a duplicate
            if any(fresh):
                await effect(session, fresh)
            if then is not None:
                await then(session)
            return fresh

    async def record_positions(
        self, consumer: str, topic: str, marks: Mapping[tuple[str, int], Position]
    ) -> None:
        """Record how far ``consumer`` got, in a transaction of its own (when no batch
        transaction took it along)."""
        positions = self.positions
        async with self._db.unit_of_work() as session:
            await positions.record(session, consumer, topic, marks)
        positions.committed(consumer, topic, marks)


@functools.cache
def _record_ids(postgres: bool) -> sa.Insert:
    """Insert event ids, skip those already there, return the ones inserted."""
    table = _processed_table()
    stmt = (
        unnest_insert(table, ("event_id",), ("consumer", "processed_at"))
        if postgres
        else sqlite.insert(table)
    )
    return stmt.on_conflict_do_nothing().returning(table.c.event_id)


class RedisDeduplicator:
    """Marks the event id in Redis after the effect (services without a database).

    The effect itself must guard external side effects (see the notifier), since a crash
    between the effect and the mark means the effect runs again.
    """

    def __init__(self, redis: Redis, *, ttl_seconds: int = 30 * 24 * 3600) -> None:
        self._redis = redis
        self._ttl = ttl_seconds

    @staticmethod
    def _key(consumer: str, event_id: str) -> str:
        return f"crm:processed:{consumer}:{event_id}"

    async def run_once(self, consumer: str, event: CloudEvent, effect: Effect) -> bool:
        key = self._key(consumer, event.id)
        if await self._redis.exists(key):
            return False
        await effect(None)
        await self._redis.set(key, "1", ex=self._ttl)
        return True

    async def done(self, consumer: str, events: Sequence[CloudEvent]) -> list[bool]:
        """Which of ``events`` were marked before (one round trip for a batch)."""
        if not events:
            return []
        async with self._redis.pipeline(transaction=False) as asked:
            for event in events:
                asked.exists(self._key(consumer, event.id))
            return [bool(found) for found in await asked.execute()]

    async def mark(self, consumer: str, events: Sequence[CloudEvent]) -> None:
        """Mark ``events`` done (one round trip for a batch)."""
        if not events:
            return
        async with self._redis.pipeline(transaction=False) as marks:
            for event in events:
                marks.set(self._key(consumer, event.id), "1", ex=self._ttl)
            await marks.execute()


class _Unguarded:
    """Runs the effect: for events whose marks a batch looked up and writes itself."""

    async def run_once(self, consumer: str, event: CloudEvent, effect: Effect) -> bool:
        await effect(None)
        return True


class _TypeOnly(BaseModel):
    """A CloudEvent's ``type``, read without the rest of the body."""

    type: str


@dataclass(frozen=True)
class _Pending:
    """A parsed event with its handler, waiting to be applied."""

    record: ConsumerRecord[Any, Any]
    event: CloudEvent
    payload: EventData
    handler: Handler

    def delivery(self, session: AsyncSession | None) -> Delivery:
        return Delivery(event=self.event, payload=self.payload, session=session)

    async def apply(self, session: AsyncSession | None) -> None:
        await self.handler(self.delivery(session))


def _runs(items: Sequence[_Pending], fresh: Sequence[bool]) -> list[list[int]]:
    """The indexes of the fresh items, in order, cut into runs: consecutive items that
    share a :class:`Bulk` handler form one run, any other item is a run of its own."""
    runs: list[list[int]] = []
    previous: Handler | None = None
    for index, (item, new) in enumerate(zip(items, fresh, strict=True)):
        if not new:
            continue
        if isinstance(item.handler, Bulk) and item.handler is previous:
            runs[-1].append(index)
        else:
            runs.append([index])
        previous = item.handler
    return runs


class EventConsumer:
    """Subscribes one consumer group to one topic and dispatches by event name."""

    def __init__(
        self,
        *,
        topic: str,
        group_id: str,
        handlers: Mapping[str, Handler],
        dedupe: Deduplicator,
        producer: EventProducer,
        max_attempts: int = 5,
        backoff_seconds: float = 0.2,
        hold_before_ack_seconds: float = 0.0,
        batch_size: int = DEFAULT_BATCH_SIZE,
        concurrency: int = 1,
    ) -> None:
        self.topic = topic
        self.group_id = group_id
        classes = registered_events()
        self._handled = {
            event_type(name): (handler, classes.get(name)) for name, handler in handlers.items()
        }
        """Handler and payload class by CloudEvent type."""
        self._dedupe = dedupe
        self._producer = producer
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff_seconds
        self.hold_before_ack_seconds = hold_before_ack_seconds
        self.batch_size = max(1, batch_size)
        """Events per transaction; 1 for handlers that must not share one."""
        if concurrency > 1 and isinstance(dedupe, DatabaseDeduplicator):
            raise ValueError("events share a transaction here: they cannot run at once")
        self.concurrency = max(1, concurrency)
        """Events of this many keys applied at once, each key's events in order (for a
        handler that waits on a slow server, such as the notifier's mail)."""

    def handler_of(self, cloudevent_type: str) -> Handler | None:
        """The handler of an event type (``crm.<Name>.v1``), or None when this consumer
        ignores it (for tests of a service's wiring without Kafka)."""
        handled = self._handled.get(cloudevent_type)
        return handled[0] if handled else None

    def register(self, broker: KafkaBroker) -> None:
        """Attach a subscriber for this consumer alone (see :func:`register_consumers`)."""
        register_consumers(broker, [self])

    async def process(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        """Apply, skip or dead-letter each record of this consumer's topic, in order
        (each key's records in order, with :attr:`concurrency`).

        Returns once every record is dealt with (the caller then commits the offsets);
        raises only if a dead letter could not be written (the caller seeks back).
        """
        pending: list[_Pending] = []
        for record in records:
            item = await self._parse(record)
            if item is not None:
                pending.append(item)
        dedupe = self._dedupe
        marks = _marks(records) if isinstance(dedupe, DatabaseDeduplicator) else {}
        recorded = False
        if self.concurrency > 1:
            await self._apply_by_key(pending)
        elif self.batch_size > 1 and isinstance(dedupe, BatchDeduplicator):
            for start in range(0, len(pending), self.batch_size):
                last = start + self.batch_size >= len(pending)
                chunk = pending[start : start + self.batch_size]
                recorded = await self._apply_batch(dedupe, chunk, marks if last else {})
        else:
            for index, item in enumerate(pending):
                last = index == len(pending) - 1
                recorded = await self._apply_one(item, marks=marks if last else None)
        if marks and not recorded and isinstance(dedupe, DatabaseDeduplicator):
            if pending:  # a duplicate or a dead letter: no transaction took them along
                await dedupe.record_positions(self.group_id, self.topic, marks)
            else:
                dedupe.positions.skipped(self.group_id, self.topic, marks)

    async def _apply_by_key(self, pending: Sequence[_Pending]) -> None:
        """Each key's events in order, up to :attr:`concurrency` keys at once. Every key
        is dealt with before a failure (a dead letter that could not be written) is
        raised, so the caller's seek back redelivers only what the handlers' own guards
        then skip.

        With marks in Redis, the batch looks up its events' marks in one round trip and
        writes them in one after all were dealt with (not one of each per event: a
        mailing's events come in thousands); a crash in between runs their effects again,
        which the handlers guard themselves (:class:`RedisDeduplicator`)."""
        batched = self._dedupe if isinstance(self._dedupe, RedisDeduplicator) else None
        if batched is not None:
            done = await batched.done(self.group_id, [item.event for item in pending])
            for item in itertools.compress(pending, done):
                EVENTS_CONSUMED.labels(self.topic, item.event.type, "duplicate").inc()
            pending = [item for item, seen in zip(pending, done, strict=True) if not seen]
        by_key: dict[Any, list[_Pending]] = {}
        for item in pending:
            by_key.setdefault(item.record.key, []).append(item)
        keys = collections.deque(by_key.values())
        unguarded = _Unguarded() if batched is not None else None
        failures: list[Exception] = []

        async def worker() -> None:  # a few workers take the keys in turn
            while keys:
                for item in keys.popleft():
                    try:
                        await self._apply_one(item, dedupe=unguarded)
                    except Exception as exc:  # raised below, after every key
                        failures.append(exc)
                        break  # this key's later events wait for the redelivery

        await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(keys)))))
        if failures:
            raise failures[0]
        if batched is not None:
            await batched.mark(self.group_id, [item.event for item in pending])

    async def _parse(self, record: ConsumerRecord[Any, Any]) -> _Pending | None:
        body = record.value if isinstance(record.value, bytes) else bytes(record.value or b"")
        try:
            # the type alone first: most events on a topic are for other consumers, and
            # pydantic reads one field without building the rest
            peeked: str | None = _TypeOnly.model_validate_json(body).type
        except ValidationError:
            peeked = None  # not even a type: the full parse below dead-letters it
        handled = self._handled.get(peeked) if peeked is not None else None
        if peeked is not None and handled is None:
            EVENTS_CONSUMED.labels(self.topic, peeked, "ignored").inc()
            return None
        handler, cls = handled or (None, None)
        if handler is not None and cls is not None:
            try:
                event = parse_typed(body, cls)  # envelope and payload in one pass
            except ValidationError:
                pass  # the two steps below say which part is broken
            else:
                return _Pending(record, event, event.payload(), handler)
        try:
            event = parse_cloudevent(body)
        except MalformedEventError as exc:
            await self._dead_letter(record, reason="malformed", error=str(exc))
            EVENTS_CONSUMED.labels(self.topic, "?", "malformed").inc()
            return None
        handler = self._handled[event.type][0]  # the peek let only handled types by
        try:
            payload = event.payload()
        except ValidationError as exc:
            await self._dead_letter(record, reason="invalid", error=str(exc), event=event)
            EVENTS_CONSUMED.labels(self.topic, event.type, "invalid").inc()
            return None
        return _Pending(record=record, event=event, payload=payload, handler=handler)

    async def _apply_batch(
        self,
        dedupe: BatchDeduplicator,
        items: Sequence[_Pending],
        marks: Mapping[tuple[str, int], Position],
    ) -> bool:
        """All of ``items`` in one unit of work, and ``marks`` (how far the consumer got)
        with them; event by event if that fails. Returns whether ``marks`` were
        recorded."""
        if len(items) == 1:
            return await self._apply_one(items[0], marks=marks)
        running: list[int] = []  # the index of the handler running now, if any
        positions = dedupe.positions if marks and isinstance(dedupe, DatabaseDeduplicator) else None

        async def record(session: AsyncSession | None) -> None:
            if positions is not None and session is not None:
                await positions.record(session, self.group_id, self.topic, marks)

        async def effect(session: AsyncSession, fresh: Sequence[bool]) -> None:
            for run in _runs(items, fresh):
                # a failed run of several is no one event's fault: none is blamed
                running[:] = run if len(run) == 1 else []
                handler = items[run[0]].handler
                events = [items[index].event for index in run]
                with tracing.consuming(events, topic=self.topic, group=self.group_id):
                    if isinstance(handler, Bulk):
                        await session.flush()
                        await handler.handler([items[index].delivery(session) for index in run])
                        session.expire_all()
                    else:
                        await items[run[0]].apply(session)  # a run of its own
            running.clear()

        started = time.perf_counter()
        outage = 0
        while True:
            running.clear()
            try:
                applied = await dedupe.run_batch(
                    self.group_id, [item.event for item in items], effect, record
                )
            except Exception as exc:
                if is_transient(exc):
                    outage += 1
                    delay = min(self._backoff * 2 ** min(outage, 10), 30.0)
                    log.warning(
                        "batch of %d on %s: store unavailable (%r); retrying in %.1fs",
                        len(items),
                        self.topic,
                        exc,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    continue
                failed = running[0] if running else None
                log.warning(
                    "batch of %d on %s failed (%r, event %s); applying its events one by one",
                    len(items),
                    self.topic,
                    exc,
                    items[failed].event.id if failed is not None else "unknown",
                )
                # the handler that broke the batch has had its first attempt
                for index, item in enumerate(items):
                    await self._apply_one(item, first_error=exc if index == failed else None)
                return False
            share = (time.perf_counter() - started) / len(items)
            outcomes = Counter(
                (item.event.type, "applied" if done else "duplicate")
                for item, done in zip(items, applied, strict=True)
            )
            for (type_, outcome), count in outcomes.items():
                EVENTS_CONSUMED.labels(self.topic, type_, outcome).inc(count)
            seconds = EVENT_HANDLE_SECONDS.labels(self.topic)
            for _ in items:
                seconds.observe(share)
            if positions is not None:
                positions.committed(self.group_id, self.topic, marks)
            return positions is not None

    async def _apply_one(
        self,
        item: _Pending,
        *,
        first_error: Exception | None = None,
        marks: Mapping[tuple[str, int], Position] | None = None,
        dedupe: Deduplicator | None = None,
    ) -> bool:
        """One event in its own unit of work, retried with backoff, dead-lettered at last;
        ``marks`` (how far the consumer got) are recorded with its effect. Returns whether
        they were.

        ``first_error`` is the failure of an attempt already made (in a batch); ``dedupe``
        stands in for the consumer's own (a batch that looks up and writes the marks).
        """
        event = item.event
        started = time.perf_counter()
        attempt = 0
        outage = 0
        error = first_error
        positions = (
            self._dedupe.positions
            if marks and isinstance(self._dedupe, DatabaseDeduplicator)
            else None
        )

        async def apply_and_record(session: AsyncSession | None) -> None:
            await item.apply(session)
            if positions is not None and marks and session is not None:
                await positions.record(session, self.group_id, self.topic, marks)

        while True:
            if error is None:
                try:
                    with tracing.consuming([event], topic=self.topic, group=self.group_id):
                        applied = await (dedupe or self._dedupe).run_once(
                            self.group_id, event, apply_and_record
                        )
                except Exception as caught:
                    error = caught
                else:
                    EVENTS_CONSUMED.labels(
                        self.topic, event.type, "applied" if applied else "duplicate"
                    ).inc()
                    EVENT_HANDLE_SECONDS.labels(self.topic).observe(time.perf_counter() - started)
                    if applied and positions is not None and marks:
                        positions.committed(self.group_id, self.topic, marks)
                    return applied and positions is not None
            exc, error = error, None
            if is_transient(exc):
                # our database or Redis is down: not the message's fault, so wait
                # (without committing) instead of dead-lettering good events
                outage += 1
                delay = min(self._backoff * 2 ** min(outage, 10), 30.0)
                log.warning(
                    "%s %s: store unavailable (%r); retrying in %.1fs",
                    event.type,
                    event.id,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            attempt += 1
            if isinstance(exc, DeadLetter) or attempt >= self._max_attempts:
                log.error(
                    "%s %s failed %d times; dead-lettering",
                    event.type,
                    event.id,
                    attempt,
                    exc_info=exc,
                )
                await self._dead_letter(item.record, reason="failed", error=repr(exc), event=event)
                EVENTS_CONSUMED.labels(self.topic, event.type, "dead_letter").inc()
                return False
            delay = self._backoff * 2 ** (attempt - 1)
            log.warning(
                "%s %s failed (attempt %d): %r; retrying in %.1fs",
                event.type,
                event.id,
                attempt,
                exc,
                delay,
            )
            await asyncio.sleep(delay)

    async def _dead_letter(
        self,
        record: ConsumerRecord[Any, Any],
        *,
        reason: str,
        error: str,
        event: CloudEvent | None = None,
    ) -> None:
        headers: Headers = list(record.headers or [])
        headers += [
            ("crm-dlq-reason", reason.encode()),
            ("crm-dlq-error", error[:2000].encode()),
            ("crm-dlq-topic", record.topic.encode()),
            ("crm-dlq-partition", str(record.partition).encode()),
            ("crm-dlq-offset", str(record.offset).encode()),
            ("crm-dlq-consumer", self.group_id.encode()),
        ]
        if event is not None:
            headers.append(("crm-dlq-event-id", event.id.encode()))
        value = record.value if isinstance(record.value, bytes) else bytes(record.value or b"")
        await self._producer.send(
            dead_letter_topic(record.topic), value, key=record.key, headers=headers
        )
        DEAD_LETTERS.labels(record.topic).inc()
        log.error(
            "dead-lettered %s@%d/%d (%s): %s",
            record.topic,
            record.partition,
            record.offset,
            reason,
            error[:200],
        )


def _marks(records: Sequence[ConsumerRecord[Any, Any]]) -> dict[tuple[str, int], Position]:
    """Per (owner, partition) the position of the last of ``records`` that has one."""
    marks: dict[tuple[str, int], Position] = {}
    for record in records:
        for name, value in record.headers or ():
            if name == POSITION_HEADER:
                parsed = parse_position(value)
                if parsed is not None:
                    key = (parsed[0], record.partition)
                    if parsed[1] > marks.get(key, (-1, -1)):
                        marks[key] = parsed[1]
    return marks


def register_consumers(broker: KafkaBroker, consumers: Sequence[EventConsumer]) -> None:
    """One Kafka consumer per group, over all the topics of that group's consumers.

    A service with several topics then joins its group once (one rebalance on restart,
    not one per topic); each fetched batch is split by topic among the consumers, and its
    offsets are committed once, after all of them (``AckPolicy.MANUAL``: at least once).
    """
    groups: dict[str, dict[str, EventConsumer]] = {}
    for consumer in consumers:
        by_topic = groups.setdefault(consumer.group_id, {})
        if consumer.topic in by_topic:
            raise ValueError(f"two consumers for {consumer.topic} in group {consumer.group_id}")
        by_topic[consumer.topic] = consumer
    for group_id, by_topic in groups.items():
        broker.subscriber(
            *by_topic,
            group_id=group_id,
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset="earliest",
            # whatever has arrived, up to the largest batch a consumer of the group takes
            batch=True,
            max_records=max(consumer.batch_size for consumer in by_topic.values()),
            # a crashed replica's partitions move on after 6 s (the broker's minimum)
            session_timeout_ms=6000,
            heartbeat_interval_ms=2000,
            # a handler may retry a while (the notifier waits out an SMTP outage)
            max_poll_interval_ms=15 * 60 * 1000,
            decoder=_records_only,
        )(_dispatcher(by_topic))


async def _records_only(_: Any) -> None:
    """FastStream's decoder for a batch wraps and JSON-decodes every record, a fifth of
    the cost of an event a service ignores. The dispatcher parses the raw records itself
    (and only those of the types it handles), so nothing is decoded here."""
    return None


def _dispatcher(by_topic: dict[str, EventConsumer]) -> Callable[[Any], Awaitable[None]]:
    hold = max(consumer.hold_before_ack_seconds for consumer in by_topic.values())

    # FastStream fills a handler's parameters from the message, so the routing table is
    # bound in a closure, never as a parameter.
    async def on_batch(message: KafkaMessage) -> None:
        raw = message.raw_message
        records: tuple[ConsumerRecord[Any, Any], ...] = raw if isinstance(raw, tuple) else (raw,)
        if not records:
            return
        # records come partition by partition, each in offset order
        split: dict[str, list[ConsumerRecord[Any, Any]]] = {}
        for record in records:
            split.setdefault(record.topic, []).append(record)
        try:
            for topic, of_topic in split.items():
                await by_topic[topic].process(of_topic)
        except Exception:
            first = records[0]
            log.exception(
                "could not process or dead-letter a batch of %d from %s@%d/%d; will retry",
                len(records),
                first.topic,
                first.partition,
                first.offset,
            )
            await message.nack()  # seeks each partition back to its first record here
            await asyncio.sleep(1.0)
            return
        if hold:
            log.warning(
                "fault injection: holding %d messages from %s@%s before ack for %ss",
                len(records),
                records[0].topic,
                records[0].offset,
                hold,
            )
            await asyncio.sleep(hold)
        await message.ack()

    return on_batch
