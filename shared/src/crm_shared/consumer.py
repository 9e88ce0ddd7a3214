"""Idempotent event consumption with bounded retries and dead letters.

For every message the :class:`EventConsumer`:

1. parses the CloudEvent; a body that is not one goes to ``<topic>.dlq`` at once;
2. skips event types it has no handler for;
3. runs the handler through a deduplicator that records the event id together with the
   effect (in the service's database in the same transaction, or in Redis for services
   without a database) and skips ids already recorded;
4. retries a failing handler with backoff, and after ``max_attempts`` sends the message
   to ``<topic>.dlq`` with the error in its headers;
5. commits the Kafka offset only after that (``AckPolicy.MANUAL``): a crash anywhere
   before the commit means redelivery, which step 3 makes harmless.

If even the dead letter cannot be written (Kafka gone), the message is not committed:
the consumer seeks back to it and tries again, so nothing is skipped.

FastStream has no dead letters of its own. We keep this in a wrapper around the
subscriber rather than a broker middleware because the deduplication needs the parsed
event and the service's unit of work.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from pydantic import ValidationError
from redis import exceptions as redis_exc
from redis.asyncio import Redis
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from crm_shared.db import Database
from crm_shared.events import (
    CloudEvent,
    EventData,
    MalformedEventError,
    dead_letter_topic,
    parse_cloudevent,
    utcnow,
)
from crm_shared.kafka import EventProducer, Headers
from crm_shared.metrics import DEAD_LETTERS, EVENT_HANDLE_SECONDS, EVENTS_CONSUMED

log = logging.getLogger(__name__)

P = TypeVar("P", bound=EventData)


class DeadLetter(Exception):
    """Raised by a handler that knows retrying is pointless: dead-letter at once."""


_TRANSIENT: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    redis_exc.ConnectionError,
    redis_exc.TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    """Whether a handler failed because a backing store is unreachable (retry forever),
    rather than because of the message (retry a few times, then dead-letter)."""
    if isinstance(exc, DeadLetter):
        return False
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, _TRANSIENT)


class ProcessedEvent(SQLModel, table=True):
    """An event id a consumer of this service has already applied."""

    __tablename__ = "processed_event"

    consumer: str = Field(sa_column=sa.Column(sa.String(100), primary_key=True))
    event_id: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    processed_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )


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


class Deduplicator(Protocol):
    """Runs an effect once per (consumer, event id)."""

    async def run_once(
        self,
        consumer: str,
        event: CloudEvent,
        effect: Callable[[AsyncSession | None], Awaitable[None]],
    ) -> bool:
        """Run ``effect`` unless already done; returns False when skipped."""
        ...


class DatabaseDeduplicator:
    """Records the event id in the same transaction as the effect."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def run_once(
        self,
        consumer: str,
        event: CloudEvent,
        effect: Callable[[AsyncSession | None], Awaitable[None]],
    ) -> bool:
        async with self._db.unit_of_work() as session:
            if await session.get(ProcessedEvent, (consumer, event.id)) is not None:
                return False
            session.add(ProcessedEvent(consumer=consumer, event_id=event.id))
            await session.flush()  # a concurrent duplicate fails here and is retried
            await effect(session)
            return True


class RedisDeduplicator:
    """Marks the event id in Redis after the effect (services without a database).

    The effect itself must guard external side effects (see the notifier), since a crash
    between the effect and the mark means the effect runs again.
    """

    def __init__(self, redis: Redis, *, ttl_seconds: int = 30 * 24 * 3600) -> None:
        self._redis = redis
        self._ttl = ttl_seconds

    async def run_once(
        self,
        consumer: str,
        event: CloudEvent,
        effect: Callable[[AsyncSession | None], Awaitable[None]],
    ) -> bool:
        key = f"crm:processed:{consumer}:{event.id}"
        if await self._redis.exists(key):
            return False
        await effect(None)
        await self._redis.set(key, "1", ex=self._ttl)
        return True


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
    ) -> None:
        self.topic = topic
        self.group_id = group_id
        self._handlers = dict(handlers)
        self._dedupe = dedupe
        self._producer = producer
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff_seconds
        self._hold_before_ack = hold_before_ack_seconds

    def register(self, broker: KafkaBroker) -> None:
        """Attach a subscriber for this consumer alone (see :func:`register_consumers`)."""
        register_consumers(broker, [self])

    async def handle(self, message: Any) -> None:
        """Process one FastStream Kafka message; commit or seek back."""
        record: ConsumerRecord[Any, Any] = message.raw_message
        try:
            await self._process(record, message.body)
        except Exception:
            log.exception(
                "could not process or dead-letter %s@%s; will retry", record.topic, record.offset
            )
            await message.nack()
            await asyncio.sleep(1.0)
            return
        if self._hold_before_ack:
            log.warning(
                "fault injection: holding %s@%s before ack for %ss",
                record.topic,
                record.offset,
                self._hold_before_ack,
            )
            await asyncio.sleep(self._hold_before_ack)
        await message.ack()

    async def _process(self, record: ConsumerRecord[Any, Any], body: bytes) -> None:
        try:
            event = parse_cloudevent(body)
        except MalformedEventError as exc:
            await self._dead_letter(record, reason="malformed", error=str(exc))
            EVENTS_CONSUMED.labels(self.topic, "?", "malformed").inc()
            return
        handler = self._handlers.get(event.name or "")
        if handler is None:
            EVENTS_CONSUMED.labels(self.topic, event.type, "ignored").inc()
            return
        try:
            payload = event.payload()
        except ValidationError as exc:
            await self._dead_letter(record, reason="invalid", error=str(exc), event=event)
            EVENTS_CONSUMED.labels(self.topic, event.type, "invalid").inc()
            return

        async def effect(session: AsyncSession | None) -> None:
            await handler(Delivery(event=event, payload=payload, session=session))

        started = time.perf_counter()
        attempt = 0
        outage = 0
        while True:
            try:
                applied = await self._dedupe.run_once(self.group_id, event, effect)
            except Exception as exc:
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
                    log.exception(
                        "%s %s failed %d times; dead-lettering", event.type, event.id, attempt
                    )
                    await self._dead_letter(record, reason="failed", error=repr(exc), event=event)
                    EVENTS_CONSUMED.labels(self.topic, event.type, "dead_letter").inc()
                    return
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
            else:
                EVENTS_CONSUMED.labels(
                    self.topic, event.type, "applied" if applied else "duplicate"
                ).inc()
                EVENT_HANDLE_SECONDS.labels(self.topic).observe(time.perf_counter() - started)
                return

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


def register_consumers(broker: KafkaBroker, consumers: Sequence[EventConsumer]) -> None:
    """One Kafka consumer per group, over all the topics of that group's consumers.

    A service with several topics then joins its group once (one rebalance on restart,
    not one per topic); each message goes to the consumer of its topic. At least once:
    offsets are committed only after the effect (``AckPolicy.MANUAL``).
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
            # a crashed replica's partitions move on after 6 s (the broker's minimum)
            session_timeout_ms=6000,
            heartbeat_interval_ms=2000,
            # a handler may retry a while (the notifier waits out an SMTP outage)
            max_poll_interval_ms=15 * 60 * 1000,
        )(_dispatcher(by_topic))


def _dispatcher(by_topic: dict[str, EventConsumer]) -> Callable[[Any], Awaitable[None]]:
    # FastStream fills a handler's parameters from the message, so the routing table is
    # bound in a closure, never as a parameter.
    async def on_message(message: KafkaMessage) -> None:
        record: ConsumerRecord[Any, Any] = message.raw_message
        await by_topic[record.topic].handle(message)

    return on_message
