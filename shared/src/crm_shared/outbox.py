"""The transactional outbox.

A change and its event commit together: :meth:`Outbox.emit` adds an ``outbox_message``
row in the caller's session (no commit). After the commit the unit of work wakes the
:class:`OutboxRelay`, which publishes the waiting rows in order and deletes them. The
same loop runs every few seconds as a sweep, so rows left by a crash between commit and
publish go out at the next start (or from another replica).

Several replicas are safe: on PostgreSQL one relay at a time holds a transaction-scoped
advisory lock while it publishes a batch, so rows are never sent concurrently out of
order; the rows are also claimed ``FOR UPDATE SKIP LOCKED``. Publishing is at least once
(a crash after Kafka acknowledged but before the delete sends the row again, with the
same event id); consumers deduplicate by event id.

The commit clock (:mod:`crm_shared.consistency`): just before a transaction that wrote
events commits, :meth:`OutboxRelay.stamp` takes the next value of the service's clock
(one row, ``outbox_clock``, incremented in place: its row lock makes the next writer wait
until this commit is visible) and writes it into the transaction's outbox rows. The relay
publishes rows from before the clock first (by ``seq``), then by ``(clock, seq)`` with
that position in the ``crm-position`` header, so on
every partition the service's positions grow in log order, and the commit knows the
position of its last event per partition: the token its response carries.

We weighed ``faststream-outbox``: it is PostgreSQL-only, and SQLite is our embedded
default, so this small relay serves both.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic_core import to_json
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from crm_shared import tracing
from crm_shared.consistency import POSITION_HEADER, Token, format_position
from crm_shared.db import OUTBOX_DIRTY, POSITIONS, Database, is_postgres, table_of, unnest_insert
from crm_shared.events import EventData, event_type, make_event, utcnow
from crm_shared.kafka import EventProducer, Headers, cloudevent_headers, partition_for
from crm_shared.metrics import OUTBOX_PENDING, OUTBOX_PUBLISHED

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every replica of one service.
_ADVISORY_LOCK_KEY = 0x43524D4F5554  # "CRMOUT"


class OutboxMessage(SQLModel, table=True):
    """An event written with the change that caused it, waiting to be published."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        sa.Index("ix_outbox_message_clock_seq", "clock", "seq"),
        # the rows of transactions not yet stamped: found at once by the stamp
        sa.Index(
            "ix_outbox_message_unstamped",
            "seq",
            postgresql_where=sa.text("clock IS NULL"),
            sqlite_where=sa.text("clock IS NULL"),
        ),
    )

    seq: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
    )
    event_id: str = Field(sa_column=sa.Column(sa.String(36), nullable=False, unique=True))
    topic: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    key: str | None = Field(default=None, sa_column=sa.Column(sa.String(200)))
    body: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    clock: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger()))
    """The commit clock of the transaction that wrote the row (set just before COMMIT)."""


class OutboxClock(SQLModel, table=True):
    """The service's commit clock: one row, counted up by every commit that writes events."""

    __tablename__ = "outbox_clock"

    id: int = Field(
        default=1, sa_column=sa.Column(sa.Integer, primary_key=True, autoincrement=False)
    )
    value: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False))


class Outbox:
    """Writes events of one service (``source``) into the caller's transaction."""

    def __init__(self, source: str) -> None:
        self.source = source

    def emit(self, session: AsyncSession, data: EventData, *, event_id: str | None = None) -> str:
        """Queue ``data`` as a CloudEvent on its topic; returns the event id."""
        cloud_event = make_event(data, source=self.source, event_id=event_id)
        tracing.stamp(cloud_event, data.kafka_topic.value)  # traceparent, when tracing
        session.add(
            OutboxMessage(
                event_id=cloud_event.id,
                topic=data.kafka_topic.value,
                key=cloud_event.subject,
                body=cloud_event.to_bytes().decode(),
            )
        )
        session.info[OUTBOX_DIRTY] = True
        return cloud_event.id

    async def emit_many(self, session: AsyncSession, payloads: Sequence[EventData]) -> None:
        """Queue many events in order (see :meth:`emit_serialized`): for bulk changes of
        thousands of records."""
        now = utcnow()
        await self.emit_serialized(
            session, [serialize(data, source=self.source, time=now) for data in payloads], now
        )

    async def emit_serialized(
        self, session: AsyncSession, events: Sequence[Serialized], at: datetime | None = None
    ) -> None:
        """Queue events already in their wire form, in order: a statement per 2,000 rows
        (one array per column on PostgreSQL), no ORM object per event. The bulk writers
        (an import, a history job) build their bodies with :func:`serialize` or, where
        one validated sample stands for thousands, :class:`crm_shared.events.EventTemplate`
        or :func:`serialize_checked_data`."""
        if not events:
            return
        at = at or utcnow()
        table = _outbox_table()
        postgres = is_postgres(session)
        for start in range(0, len(events), _BULK):
            chunk = events[start : start + _BULK]
            if postgres:
                await session.execute(
                    _bulk_insert(),
                    {
                        "event_id": [e.event_id for e in chunk],
                        "topic": [e.topic for e in chunk],
                        "key": [e.key for e in chunk],
                        "body": [e.body for e in chunk],
                        "created_at": at,
                    },
                )
            else:
                await session.execute(
                    sa.insert(table),
                    [
                        {
                            "event_id": e.event_id,
                            "topic": e.topic,
                            "key": e.key,
                            "body": e.body,
                            "created_at": at,
                        }
                        for e in chunk
                    ],
                )
        session.info[OUTBOX_DIRTY] = True


_BULK = 2000


@functools.cache
def _bulk_insert() -> sa.Insert:
    return unnest_insert(_outbox_table(), ("event_id", "topic", "key", "body"), ("created_at",))


@dataclass(frozen=True, slots=True)
class Serialized:
    """An event in its wire form, for :meth:`Outbox.emit_serialized`."""

    event_id: str
    topic: str
    key: str | None
    body: str


def serialize(
    data: EventData, *, source: str, event_id: str | None = None, time: datetime | None = None
) -> Serialized:
    """``data`` as the CloudEvent :meth:`Outbox.emit` would write."""
    event = make_event(data, source=source, event_id=event_id, time=time)
    return Serialized(event.id, data.kafka_topic.value, event.subject, event.to_bytes().decode())


def serialize_checked_data(
    cls: type[EventData],
    data: dict[str, Any],
    *,
    subject: str,
    source: str,
    event_id: str,
    time: datetime,
) -> Serialized:
    """An event of ``cls`` from ``data`` that is already in its JSON form and already
    checked (every field of ``cls``, as ``model_dump(mode="json")`` gives it): the same
    body :func:`serialize` writes (tested), without building the payload and envelope
    models. For a writer of many events whose values it validated itself (the CSV
    import checks every row), where two models per event cost more than the rest."""
    envelope = {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": event_type(cls.event_name),
        "subject": subject,
        "time": time.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": data,
    }
    return Serialized(event_id, cls.kafka_topic.value, subject, to_json(envelope).decode())


class CommitClock:
    """Stamps the outbox rows of a committing transaction with the service's next clock
    value and works out the positions it wrote (see the module docstring)."""

    def __init__(self, owner: str, producer: EventProducer) -> None:
        self.owner = owner
        self._producer = producer

    async def __call__(self, session: AsyncSession) -> None:
        await session.flush()  # the ORM's pending outbox rows first
        if is_postgres(session):  # one round trip: the clock's bump feeds the stamp
            stamped = list(await session.execute(_stamp_postgres()))
        else:
            clock = await session.scalar(_bump(sqlite.insert(_clock_table())))
            stamped = list(await session.execute(_stamp().values(clock=clock)))
        token = Token()
        partitions: dict[str, list[int]] = {}
        for topic, key, seq, clock in stamped:
            if key is None:
                continue  # a keyless record lands on any partition: no position to wait for
            known = partitions.get(topic)
            if known is None:
                known = partitions[topic] = await self._producer.partitions(topic)
            entry = (self.owner, topic, partition_for(key.encode(), known))
            token.merge({entry: (clock, seq)})
        session.info[POSITIONS] = token


class OutboxRelay:
    """Publishes outbox rows right after commit, and sweeps for leftovers."""

    def __init__(
        self,
        db: Database,
        producer: EventProducer,
        *,
        owner: str = "service",
        sweep_seconds: float = 2.0,
        batch_size: int = 2000,
        hold_seconds: float = 0.0,
    ) -> None:
        self._db = db
        self._producer = producer
        self._owner = owner
        self._sweep_seconds = sweep_seconds
        self._batch_size = batch_size
        self._hold_seconds = hold_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        db.commit_clock = CommitClock(owner, producer)
        db.on_outbox_commit(self.kick)

    def kick(self) -> None:
        """Publish soon: called after a commit that wrote outbox rows."""
        self._wake.set()

    def start(self) -> None:
        """Run the relay loop in the background (first pass immediately)."""
        self._wake.set()
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        """Stop the loop; rows not yet published stay for the next start."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._sweep_seconds)
            self._wake.clear()
            if self._hold_seconds:
                log.warning("fault injection: holding outbox for %ss", self._hold_seconds)
                await asyncio.sleep(self._hold_seconds)
            try:
                await self.flush()
            except Exception:
                log.exception("outbox relay failed; retrying at the next sweep")

    async def flush(self) -> int:
        """Publish everything waiting; returns how many rows were published."""
        total = 0
        while True:
            published = await self._publish_batch()
            total += published
            if published < self._batch_size:
                return total

    async def _publish_batch(self) -> int:
        # Core statements, not ORM objects: this runs for every event of every service.
        table = _outbox_table()
        async with self._db.sessionmaker() as session, session.begin():
            if not self._db.sqlite:
                locked = await session.scalar(
                    sa.select(sa.func.pg_try_advisory_xact_lock(_ADVISORY_LOCK_KEY))
                )
                if not locked:
                    return 0  # another replica is relaying right now
            # the body as bytes straight from the database (no decode and encode again)
            body = (
                sa.cast(table.c.body, sa.LargeBinary)
                if self._db.sqlite
                else sa.func.convert_to(table.c.body, "UTF8", type_=sa.LargeBinary)
            )
            # in commit order: on every partition the positions grow in log order
            query = (
                sa.select(
                    table.c.seq, table.c.clock, table.c.topic, table.c.key, body.label("body")
                )
                .order_by(table.c.clock.nulls_first(), table.c.seq)
                .limit(self._batch_size)
            )
            if not self._db.sqlite:
                query = query.with_for_update(skip_locked=True)
            rows = list((await session.execute(query)).all())
            if not rows:
                OUTBOX_PENDING.set(0)
                return 0
            OUTBOX_PENDING.set(len(rows))  # stays while Kafka refuses them
            await self._producer.send_many(
                [
                    (row.topic, row.key.encode() if row.key else None, row.body, self._headers(row))
                    for row in rows
                ]
            )
            seqs = [row.seq for row in rows]
            published: sa.ColumnElement[bool]
            if self._db.sqlite:
                published = table.c.seq.in_(seqs)
            else:  # one array parameter instead of thousands of bound values
                published = table.c.seq == sa.any_(
                    sa.bindparam("seqs", seqs, type_=postgresql.ARRAY(sa.BigInteger()))
                )
            await session.execute(sa.delete(table).where(published))
        OUTBOX_PUBLISHED.inc(len(rows))
        if len(rows) < self._batch_size:
            OUTBOX_PENDING.set(0)
        return len(rows)

    def _headers(self, row: sa.Row[Any]) -> Headers:
        headers = cloudevent_headers()
        if row.clock is not None:  # rows committed before the clock existed have none
            headers.append((POSITION_HEADER, format_position(self._owner, (row.clock, row.seq))))
        return headers


def _bump(insert: Any) -> Any:
    """``outbox_clock`` + 1 (created at 1), returning the new value; its row stays locked
    until the transaction ends."""
    table = _clock_table()
    return (
        insert.values(id=1, value=1)
        .on_conflict_do_update(index_elements=[table.c.id], set_={"value": table.c.value + 1})
        .returning(table.c.value)
    )


def _stamp() -> sa.Update:
    """This transaction's outbox rows get the clock: the unstamped ones it can see (its
    own, and on SQLite, where the writer is alone, rows from before the clock too)."""
    table = _outbox_table()
    return (
        sa.update(table)
        .where(table.c.clock.is_(None))
        .returning(table.c.topic, table.c.key, table.c.seq, table.c.clock)
    )


# Rows this transaction inserted (no savepoints are used, so their xmin is its id). Rows
# committed before the clock existed are left alone: stamping them would lock some of
# them while the relay takes the next ones past the lock, out of order.
_OWN_ROWS = sa.text("outbox_message.xmin = pg_current_xact_id()::xid")


@functools.cache
def _stamp_postgres() -> sa.Update:
    bumped = _bump(postgresql.insert(_clock_table())).cte("bumped")
    return _stamp().where(_OWN_ROWS).values(clock=sa.select(bumped.c.value).scalar_subquery())


def _clock_table() -> sa.Table:
    table: sa.Table = table_of(OutboxClock)
    return table


def _outbox_table() -> sa.Table:
    table: sa.Table = table_of(OutboxMessage)
    return table
