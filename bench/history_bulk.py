"""Bulk history entry for 100,000 contacts, end to end through Kafka (goal: ≤ 20 s).

Starts real servers (Kafka, PostgreSQL; or uses CRM_KAFKA_BOOTSTRAP,
CRM_TEST_POSTGRES_URL), migrates fresh databases of the contacts and history services,
seeds the contacts straight into the contacts service's table, starts both services as
processes and asks the history service for one bulk entry for all of them
(``POST /api/history/bulk`` with a filter selection, which the contacts service resolves
when the job starts, streamed). Measured: from the request until the job is ``done``
and until every ``HistoryEntryCreated`` of the job is on ``crm.history`` (read by a
separate consumer); the resolution is part of it.

Floor, in the same run: the same number of rows inserted with bare SQLAlchemy core
(1,000 per transaction) plus the same number of records of the same size produced with a
bare aiokafka producer (``acks=all``, idempotent). The ratio says how much the service
adds on top of the database and Kafka work it cannot avoid.

    uv run python bench/history_bulk.py [--contacts 100000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from crm_contacts.main import MIGRATIONS as CONTACTS_MIGRATIONS
from crm_contacts.models import Contact
from crm_dev.servers import LocalServers
from crm_dev.stack import Stack, StackConfig
from crm_dev.testing import create_database
from crm_history.main import MIGRATIONS
from crm_shared import migrations
from crm_shared.auth import StaffClaims, issue_token
from crm_shared.db import Database
from crm_shared.kafka import ensure_topics
from crm_shared.settings import DEV_JWT_SECRET

SEED_CHUNK = 5000


async def seed(contacts_url: str, history_url: str, count: int) -> None:
    """Migrate both databases and fill the contacts service's table directly (the
    history service's copy only matters for contacts deleted since: none here)."""
    history = Database(history_url)
    await migrations.upgrade(history, MIGRATIONS)
    await history.dispose()
    db = Database(contacts_url)
    try:
        await migrations.upgrade(db, CONTACTS_MIGRATIONS)
        table = Contact.__table__  # type: ignore[attr-defined]
        now = datetime.now(UTC)
        for start in range(0, count, SEED_CHUNK):
            rows = [
                {
                    "id": str(uuid.uuid4()),
                    "kind": "person",
                    "name": f"Bench Kunde {i}",
                    "email": f"bench{i}@example.com",
                    "language": "de",
                    "customer_number": f"B{i:07d}",
                    "status": "customer",
                    "credit_hold": False,
                    "assignment_mode": "all",
                    "crm": {},
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(start, min(count, start + SEED_CHUNK))
            ]
            async with db.engine.begin() as conn:
                await conn.execute(sa.insert(table), rows)
    finally:
        await db.dispose()


async def floor(url: str, bootstrap: str, count: int, batch: int) -> dict[str, float]:
    """Bare database inserts and bare Kafka produce of the same volume."""
    db = Database(url)
    meta = sa.MetaData()
    table = sa.Table(
        "floor_rows",
        meta,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("contact_id", sa.String(36), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    body = "x" * 700  # about the size of one HistoryEntryCreated CloudEvent
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(meta.create_all)
        started = time.perf_counter()
        for start in range(0, count, batch):
            rows = [
                {"id": str(uuid.uuid4()), "contact_id": str(uuid.uuid4()), "body": body}
                for _ in range(min(batch, count - start))
            ]
            async with db.engine.begin() as conn:
                # entries, outbox rows and timeline items: three rows per contact
                for _ in range(3):
                    await conn.execute(
                        sa.insert(table), [{**r, "id": str(uuid.uuid4())} for r in rows]
                    )
        db_seconds = time.perf_counter() - started
    finally:
        await db.dispose()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2
    )
    await producer.start()
    try:
        started = time.perf_counter()
        value = body.encode()
        futures = [
            await producer.send("bench.floor", value=value, key=str(i % 1000).encode())
            for i in range(count)
        ]
        await asyncio.gather(*futures)
        kafka_seconds = time.perf_counter() - started
    finally:
        await producer.stop()
    return {"db": db_seconds, "kafka": kafka_seconds}


class EventCounter:
    """Counts the job's HistoryEntryCreated records on crm.history from the end on."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
        )
        self.count = 0
        self.needle = b""

    async def start(self) -> None:
        await self.consumer.start()
        cluster = await self.consumer._client.fetch_all_metadata()
        partitions = [
            TopicPartition("crm.history", p)
            for p in sorted(cluster.partitions_for_topic("crm.history") or ())
        ]
        self.consumer.assign(partitions)
        await self.consumer.seek_to_end(*partitions)
        for tp in partitions:
            await self.consumer.position(tp)

    async def until(self, job_id: str, total: int, timeout: float) -> float | None:  # noqa: ASYNC109
        needle = f'"job_id":"{job_id}"'.encode()
        kind = b"crm.HistoryEntryCreated.v1"
        deadline = time.monotonic() + timeout
        while self.count < total and time.monotonic() < deadline:
            batches = await self.consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batches.values():
                for record in records:
                    value: bytes = record.value or b""
                    if needle in value and kind in value:
                        self.count += 1
        return time.monotonic() if self.count >= total else None

    async def stop(self) -> None:
        await self.consumer.stop()


async def run(args: argparse.Namespace, bootstrap: str, postgres_url: str) -> None:
    await ensure_topics(bootstrap)
    await ensure_topics(bootstrap, ["bench.floor"])
    url = await create_database(postgres_url, "bench_history")
    contacts_url = await create_database(postgres_url, "bench_contacts")
    print(f"seeding {args.contacts:,} contacts into the contacts service's table …")
    await seed(contacts_url, url, args.contacts)

    data_dir = Path(tempfile.mkdtemp(prefix="bench-history-"))
    stack = Stack(
        StackConfig(
            kafka_bootstrap=bootstrap,
            redis_url="redis://127.0.0.1:1/0",
            smtp_host="127.0.0.1",
            smtp_port=1,
            data_dir=data_dir,
            database_urls={"history": url, "contacts": contacts_url},
            env={"CRM_ENV": "test", "CRM_HISTORY_JOB_BATCH_SIZE": str(args.batch)},
        ),
        sink=lambda name, line: None,
    )
    counter = EventCounter(bootstrap)
    try:
        for name in ("contacts", "history"):
            stack.start(name).wait_ready(90)
        await counter.start()
        token = issue_token(
            StaffClaims(
                staff_id=str(uuid.uuid4()),
                username="bench",
                name="Bench",
                initials="BE",
                roles=["admin"],
            ),
            os.environ.get("CRM_JWT_SECRET", DEV_JWT_SECRET),
        )
        async with httpx.AsyncClient(
            base_url=stack.services["history"].url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
        ) as client:
            started = time.monotonic()
            response = await client.post(
                "/api/history/bulk",
                json={
                    "selection": {"filter": {"status": "customer"}},
                    "entry": {"text": "Katalog 2026 verschickt", "field5": True},
                },
            )
            accepted = time.monotonic()
            response.raise_for_status()
            job_id = response.json()["job_id"]

            async def wait_done() -> tuple[float, dict[str, Any]]:
                while True:
                    job = (await client.get(f"/api/jobs/{job_id}")).json()
                    if job["state"] != "running":
                        return time.monotonic(), job
                    await asyncio.sleep(0.2)

            (done_at, job), events_at = await asyncio.gather(
                wait_done(), counter.until(job_id, args.contacts, timeout=600)
            )
    finally:
        await counter.stop()
        stack.stop_all()
        shutil.rmtree(data_dir, ignore_errors=True)

    if job["state"] != "done" or events_at is None:
        raise SystemExit(f"FAILED: job {job}, events seen {counter.count:,}")
    total = max(done_at, events_at) - started
    print(f"floor (same run): {args.contacts:,} x 3 rows bare inserts + bare Kafka produce …")
    base = await floor(url, bootstrap, args.contacts, args.batch)
    base_total = base["db"] + base["kafka"]
    n = args.contacts
    print()
    print(f"contacts                     {n:,}")
    print(f"request → 202 accepted       {accepted - started:8.2f} s")
    print(f"request → job done           {done_at - started:8.2f} s")
    print(f"request → all events on topic{events_at - started:8.2f} s")
    print(f"end to end                   {total:8.2f} s   {n / total:,.0f} entries/s")
    print(
        f"floor: bare inserts {base['db']:.2f} s + bare produce {base['kafka']:.2f} s"
        f" = {base_total:.2f} s   ({n / base_total:,.0f}/s)"
    )
    print(f"ratio to floor               {total / base_total:8.2f}x")
    print(f"goal ≤ 20 s for 100,000: {'met' if total <= 20 or n < 100_000 else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000, help="rows per job transaction")
    args = parser.parse_args()
    with LocalServers() as servers:
        asyncio.run(run(args, servers.kafka(), servers.postgres()))


if __name__ == "__main__":
    main()
