"""Fixtures of the shared library's integration tests: real Kafka, Redis, PostgreSQL.

Every database test runs twice, on a SQLite file and on a fresh PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlmodel import SQLModel

from crm_shared.consumer import ProcessedEvent
from crm_shared.copies import CopyPosition
from crm_shared.db import Database
from crm_shared.events import dead_letter_topic
from crm_shared.kafka import EventProducer, ensure_topics
from crm_shared.outbox import OutboxClock, OutboxMessage

Record = ConsumerRecord[Any, Any]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database: a SQLite file, or a new database on the PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'shared-test.db'}"
    url: str = request.getfixturevalue("pg_database")
    return url


async def create_tables(db: Database, *tables: sa.Table) -> None:
    """Create only the given tables (never a service's whole metadata)."""

    def create(sync_conn: sa.Connection) -> None:
        SQLModel.metadata.create_all(sync_conn, tables=list(tables))

    async with db.engine.begin() as conn:
        await conn.run_sync(create)


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[Database]:
    """A Database with the outbox, commit clock, processed-event and copy-position tables."""
    db = Database(db_url)
    await create_tables(
        db,
        *(
            model.__table__  # type: ignore[attr-defined]
            for model in (OutboxMessage, OutboxClock, ProcessedEvent, CopyPosition)
        ),
    )
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[EventProducer]:
    """A started EventProducer on the real Kafka."""
    prod = EventProducer(kafka_bootstrap, client_id=f"shared-tests-{uuid.uuid4().hex[:6]}")
    await prod.start()
    try:
        yield prod
    finally:
        await prod.stop()


@pytest.fixture
async def fresh_topic(kafka_bootstrap: str) -> str:
    """A new topic (one partition) and its dead-letter topic, only for this test."""
    topic = f"crm.test.{uuid.uuid4().hex[:12]}"
    await ensure_topics(kafka_bootstrap, [topic, dead_letter_topic(topic)], partitions=1)
    return topic


Collect = Callable[..., Awaitable[list[Record]]]


@pytest.fixture
def collect(kafka_bootstrap: str) -> Collect:
    """Read a topic from the start and return the records that match ``where``.

    Reading stops ``settle`` seconds after ``count`` matching records were seen (so
    duplicates arriving late are still counted), or at ``timeout``.
    """

    async def run(
        topic: str,
        where: Callable[[Record], bool],
        *,
        count: int,
        timeout: float = 15.0,
        settle: float = 0.0,
    ) -> list[Record]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            group_id=None,
        )
        await consumer.start()
        found: list[Record] = []
        loop = asyncio.get_running_loop()
        try:
            deadline = loop.time() + timeout
            while loop.time() < deadline:
                batches = await consumer.getmany(timeout_ms=200)
                for records in batches.values():
                    found.extend(r for r in records if where(r))
                if len(found) >= count:
                    deadline = min(deadline, loop.time() + settle)
                    if settle <= 0:
                        break
            return found
        finally:
            await consumer.stop()

    return run


@pytest.fixture
def topic_size(kafka_bootstrap: str) -> Callable[[str], Awaitable[int]]:
    """How many records a topic holds (sum of its partitions' end offsets)."""

    async def run(topic: str) -> int:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, group_id=None)
        await consumer.start()
        try:
            partitions = consumer.partitions_for_topic(topic) or set()
            ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
            return sum(ends.values())
        finally:
            await consumer.stop()

    return run


@pytest.fixture
def committed_offsets(kafka_bootstrap: str) -> Callable[[str, str], Awaitable[dict[int, int]]]:
    """The offsets a consumer group has committed on a topic, by partition."""

    async def run(group_id: str, topic: str) -> dict[int, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group_id)
            return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}
        finally:
            await admin.close()

    return run
