"""Local copies of another service's records: kept from its events in bulk, and read no
older than what the caller has seen.

Writing. Every service that reacts to contacts keeps a copy of the fields it needs, and
keeps the *newest* one: events may repeat or arrive late, so a copy takes a snapshot only
when the snapshot's version is newer. Applied one event at a time that is a read and a
write per event through the ORM, about a millisecond of CPU each; a CSV import puts
100,000 ``ContactCreated`` on ``crm.contacts`` and four services copy them.
:func:`keep_newest` applies a whole run of snapshots as one upsert, with the same outcome
as applying them one by one.

How far. The consumers record, per (group, owner, topic, partition), the position of the
last event they processed (:class:`CopyPositions`, in the batch's transaction).

Reading. :func:`wait_for_copy` is the one way a service reads a copy for a caller: it
waits until the copy has reached the caller's consistency token
(:mod:`crm_shared.consistency`) on the partitions the read concerns, and for the rows the
read needs, for ``CRM_COPY_WAIT_SECONDS`` at most; a copy still behind then is a 503 with
``Retry-After`` (:class:`~crm_shared.consistency.CopyBehind`), never a stale answer.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from aiokafka import TopicPartition
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from crm_shared import consistency
from crm_shared.consistency import CopyBehind, Entry, Position
from crm_shared.db import Database, dialect_insert, is_postgres, table_of, unnest_insert
from crm_shared.kafka import partition_for

if TYPE_CHECKING:
    from crm_shared.service import Runtime

T = TypeVar("T")
log = logging.getLogger(__name__)


def newest_rows(
    rows: Sequence[Mapping[str, Any]], *, key: str, version: str, replace_equal: bool
) -> list[Mapping[str, Any]]:
    """Per key, the row that applying ``rows`` one by one would leave: the highest
    version; among equal versions the first, or the last with ``replace_equal``."""
    best: dict[Any, Mapping[str, Any]] = {}
    for row in rows:
        old = best.get(row[key])
        if (
            old is None
            or row[version] > old[version]
            or (replace_equal and row[version] == old[version])
        ):
            best[row[key]] = row
    return list(best.values())


async def keep_newest(
    session: AsyncSession,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: str = "contact_id",
    version: str = "version",
    replace_equal: bool = False,
    tombstone: tuple[str, Any] | None = None,
) -> None:
    """Insert each row, or update the stored one if the row's version is newer (or equal,
    with ``replace_equal``) and the stored row is not a ``tombstone`` (``(column,
    value)``: a stored row with that value stays as it is).

    ``rows`` must all have the same columns, every column the copy keeps. One statement:
    ``INSERT … SELECT FROM unnest(…) ON CONFLICT … DO UPDATE … WHERE`` on PostgreSQL
    (:func:`crm_shared.db.unnest_insert`), an executemany of the same upsert on SQLite.
    It bypasses the session's objects: a caller that loaded copies through the
    ORM expires them afterwards (:class:`crm_shared.consumer.Bulk` does).
    """
    newest = newest_rows(rows, key=key, version=version, replace_equal=replace_equal)
    if not newest:
        return
    names = tuple(newest[0])
    postgres = is_postgres(session)
    stmt = _upsert(table, names, key, version, replace_equal, tombstone, postgres)
    if postgres:  # one statement for the run, a list of values per column
        await session.execute(stmt, {name: [row[name] for row in newest] for name in names})
    else:
        await session.execute(stmt, [dict(row) for row in newest])


@functools.lru_cache(maxsize=64)
def _upsert(
    table: sa.Table,
    names: tuple[str, ...],
    key: str,
    version: str,
    replace_equal: bool,
    tombstone: tuple[str, Any] | None,
    postgres: bool,
) -> sa.Insert:
    """The statement of :func:`keep_newest`, built once per copy table and shape."""
    stmt = unnest_insert(table, names) if postgres else sqlite.insert(table)
    stored, incoming = table.c[version], stmt.excluded[version]
    newer = stored <= incoming if replace_equal else stored < incoming
    if tombstone is not None:
        column, value = tombstone
        newer = sa.and_(newer, table.c[column] != value)
    return stmt.on_conflict_do_update(
        index_elements=[table.c[key]],
        set_={name: stmt.excluded[name] for name in names if name != key},
        where=newer,
    )


class CopyPosition(SQLModel, table=True):
    """How far a consumer group has processed an owner's events on one partition."""

    __tablename__ = "copy_position"

    consumer: str = Field(sa_column=sa.Column(sa.String(100), primary_key=True))
    owner: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    topic: str = Field(sa_column=sa.Column(sa.String(200), primary_key=True))
    partition: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True, autoincrement=False))
    clock: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    seq: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))


def _table() -> sa.Table:
    table: sa.Table = table_of(CopyPosition)
    return table


class CopyPositions:
    """Reads and records the positions of one database's consumers, with a cache.

    Positions only grow, so a cached one that already reaches what a reader needs is
    enough: the common read (a token the copy passed long ago) costs no query.
    """

    WRITE_SKIPPED_AFTER = 0.5
    """Seconds the positions of skipped-only fetches wait before they are written."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._known: dict[tuple[str, str, str, int], Position] = {}
        self._unwritten: dict[tuple[str, str], dict[tuple[str, int], Position]] = {}
        self._writer: asyncio.Task[None] | None = None

    @classmethod
    def of(cls, db: Database) -> CopyPositions:
        """The one instance per database (shared by its consumers and readers)."""
        found = _instances.get(db)
        if found is None:
            found = _instances[db] = cls(db)
        return found

    def _remember(self, consumer: str, entry: Entry, position: Position) -> None:
        key = (consumer, *entry)
        old = self._known.get(key)
        if old is None or position > old:
            self._known[key] = position

    async def record(
        self,
        session: AsyncSession,
        consumer: str,
        topic: str,
        marks: Mapping[tuple[str, int], Position],
    ) -> None:
        """Raise the stored positions of ``marks`` (``{(owner, partition): position}``)
        in the caller's transaction; the cache follows after :meth:`committed`."""
        if not marks:
            return
        table = _table()
        rows = [
            {
                "consumer": consumer,
                "owner": owner,
                "topic": topic,
                "partition": partition,
                "clock": clock,
                "seq": seq,
            }
            for (owner, partition), (clock, seq) in sorted(marks.items())
        ]
        stmt = dialect_insert(session, table)
        stored = sa.tuple_(table.c.clock, table.c.seq)
        incoming = sa.tuple_(stmt.excluded.clock, stmt.excluded.seq)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[table.c.consumer, table.c.owner, table.c.topic, table.c.partition],
                set_={"clock": stmt.excluded.clock, "seq": stmt.excluded.seq},
                where=stored < incoming,
            ),
            rows,
        )

    def committed(
        self, consumer: str, topic: str, marks: Mapping[tuple[str, int], Position]
    ) -> None:
        """Note positions whose transaction has committed."""
        for (owner, partition), position in marks.items():
            self._remember(consumer, (owner, topic, partition), position)

    def skipped(self, consumer: str, topic: str, marks: Mapping[tuple[str, int], Position]) -> None:
        """Positions of records the consumer had nothing to do for (other groups'
        events): no effect to wait for, so readers in this process see them at once; the
        database follows within :attr:`WRITE_SKIPPED_AFTER`, one write for all that came
        meanwhile instead of a transaction per fetch (at a few events a second every
        group would otherwise write one for each event it ignores). A reader elsewhere
        waits that much longer at most; a crash before the write only makes it wait for
        the next event (never a stale read)."""
        self.committed(consumer, topic, marks)
        waiting = self._unwritten.setdefault((consumer, topic), {})
        for key, position in marks.items():
            if position > waiting.get(key, (-1, -1)):
                waiting[key] = position
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_skipped(), name="copy-positions")

    async def _write_skipped(self) -> None:
        await asyncio.sleep(self.WRITE_SKIPPED_AFTER)
        unwritten, self._unwritten = self._unwritten, {}
        try:
            async with self._db.unit_of_work() as session:
                for (consumer, topic), marks in sorted(unwritten.items()):
                    await self.record(session, consumer, topic, marks)
        except Exception:  # the database is away: the next skipped fetch tries again
            log.warning("could not record skipped positions; later", exc_info=True)
            for group, marks in unwritten.items():
                waiting = self._unwritten.setdefault(group, {})
                for key, position in marks.items():
                    waiting[key] = max(position, waiting.get(key, (-1, -1)))

    async def behind(
        self, consumer: str, needed: Iterable[tuple[Entry, Position]]
    ) -> list[tuple[Entry, Position | None, Position]]:
        """The entries of ``needed`` the consumer has not reached yet, as
        ``(entry, reached or None, needed)``; reads the database only for those the
        cache does not already show as reached."""
        open_ = [
            (entry, position)
            for entry, position in needed
            if self._known.get((consumer, *entry), (-1, -1)) < position
        ]
        if not open_:
            return []
        table = _table()
        topics = sorted({entry[1] for entry, _ in open_})
        async with self._db.sessionmaker() as session:
            rows = await session.execute(
                sa.select(
                    table.c.owner, table.c.topic, table.c.partition, table.c.clock, table.c.seq
                ).where(table.c.consumer == consumer, table.c.topic.in_(topics))
            )
            for owner, topic, partition, clock, seq in rows:
                self._remember(consumer, (owner, topic, partition), (clock, seq))
        result = []
        for entry, position in open_:
            reached = self._known.get((consumer, *entry))
            if reached is None or reached < position:
                result.append((entry, reached, position))
        return result


_instances: weakref.WeakKeyDictionary[Database, CopyPositions] = weakref.WeakKeyDictionary()


async def wait_for_copy(
    runtime: Runtime[Any],
    topics: str | Sequence[str],
    *,
    keys: Iterable[str] | None = None,
    load: Callable[[AsyncSession], Awaitable[T]] | None = None,
    ready: Callable[[T], bool] = bool,
    group: str | None = None,
    session: AsyncSession | None = None,
) -> T | None:
    """Read a local copy no older than what the caller has seen; the one way to read one.

    1. Waits until this service's consumer (``group``, default the service's own) has
       processed, on ``topics``, every event the request's consistency token names on the
       partitions of ``keys`` (the Kafka keys the read concerns, e.g. contact ids), or on
       every partition when the read concerns the whole copy (``keys=None``, e.g. a
       filter). Raises :class:`CopyBehind` (503, ``Retry-After``) if that takes longer
       than ``CRM_COPY_WAIT_SECONDS``.
    2. Then, with ``load``, reads the rows and returns them: first in ``session`` (the
       request's own unit of work, where given: no second session for the common case),
       then, while ``ready(rows)`` is false, again in short sessions of their own (a
       snapshot taken by the first read must not hide a row that arrives meanwhile) until
       the same deadline, and then returns what there is (the caller decides what a
       missing row means): a caller without a token for a thing created a moment ago
       (someone else's write) still gets it once its event arrives. A row still missing
       after ``MISSING_AFTER_SECONDS`` while the consumer has processed everything
       Kafka holds on those partitions is not coming: what there is returns then (a
       mistyped id is a 404 in a quarter of a second, not after the whole wait).
    """
    settings = runtime.settings
    consumer = group or settings.service_name
    keys = None if keys is None else list(keys)
    topic_list = [topics] if isinstance(topics, str) else list(topics)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.copy_wait_seconds
    token = consistency.seen()
    needed: list[tuple[Entry, Position]] = []
    for topic in topic_list:
        if (consumer, topic) not in runtime.consumed:  # it would wait for ever
            raise RuntimeError(f"{consumer} keeps no copy of {topic}")
        entries = list(token.on(topic))
        if entries and keys is not None:
            known = await runtime.producer.partitions(topic)
            wanted = {partition_for(key.encode(), known) for key in keys}
            entries = [(entry, position) for entry, position in entries if entry[2] in wanted]
        needed += entries
    if needed:
        positions = CopyPositions.of(runtime.database)
        delay = 0.005
        while lagging := await positions.behind(consumer, needed):
            if loop.time() >= deadline:
                raise CopyBehind(settings.service_name, lagging)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
            needed = [(entry, position) for entry, _, position in lagging]
    if load is None:
        return None
    if session is not None:
        rows = await load(session)
        if ready(rows):
            return rows
    missing_since = loop.time()
    while True:
        async with runtime.database.sessionmaker() as own:
            rows = await load(own)
        if ready(rows) or loop.time() >= deadline:
            return rows
        if loop.time() - missing_since >= MISSING_AFTER_SECONDS and await _caught_up(
            runtime, consumer, topic_list, keys
        ):
            # every event published until now is in the copy: what is not there now
            # will not come (one more read, for what the consumer did since)
            async with runtime.database.sessionmaker() as own:
                return await load(own)
        await asyncio.sleep(0.05)


MISSING_AFTER_SECONDS = 0.25
"""How long a read waits for a missing row before it asks whether the copy has caught
up: an event written a moment ago may still be on its way from the owner's outbox."""


async def _caught_up(
    runtime: Runtime[Any], consumer: str, topics: Sequence[str], keys: Iterable[str] | None
) -> bool:
    """Whether ``consumer`` has processed everything on the partitions of ``keys`` (every
    partition without) of ``topics``, as Kafka knows it now."""
    if runtime.caught_up is None:
        return False
    partitions: list[TopicPartition] = []
    for topic in topics:
        known = await runtime.producer.partitions(topic)
        wanted = known if keys is None else {partition_for(k.encode(), known) for k in keys}
        partitions += [TopicPartition(topic, p) for p in sorted(wanted)]
    return await runtime.caught_up(consumer, partitions)
