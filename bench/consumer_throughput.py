"""Throughput of one idempotent consumer working off a backlog, event by event vs batched.

Starts real servers (Kafka, PostgreSQL, Redis; or uses CRM_KAFKA_BOOTSTRAP,
CRM_TEST_POSTGRES_URL, CRM_REDIS_URL), puts N ``ContactCreated`` events on a fresh
one-partition topic (what a CSV import leaves on ``crm.contacts``), then lets one
service's real ``crm.contacts`` consumer (``--service``, default history: local contact
copy + timeline item per event, deduplicated in its own freshly migrated database) work
them off, once per batch size asked for:
``1`` is the old way (a transaction and an offset commit per event), larger sizes apply
that many events per transaction with one offset commit per fetch.

Measured per mode: events/s from the moment the consumer has its partition until the
group's committed offset reaches N, and the CPU seconds of this process (which runs the
consumer) per 1,000 events. Baseline in the same run: a bare aiokafka consumer reading
the same N records (no parsing, no database, no commits). ``--handler noop`` swaps the
history handlers for one that does nothing, which leaves the consumer's own cost (parse,
dedup, offset commits). The load average is printed before and after each mode, since
the machine may be shared. ``--profile FILE`` writes a cProfile of each mode's consumer
to ``FILE.<batch size>`` (read it with ``python -m pstats``).

    uv run --frozen python bench/consumer_throughput.py [--events 5000]
        [--batch-sizes 1,50,200] [--service history|interactions|campaigns|notifier|reminders]
        [--handler service|noop] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from redis.asyncio import Redis

from crm_dev.servers import LocalServers, tree_cpu_seconds
from crm_dev.testing import create_database
from crm_ops.catalog import SERVICES
from crm_shared import migrations
from crm_shared.consistency import POSITION_HEADER, format_position
from crm_shared.consumer import EventConsumer, register_consumers
from crm_shared.db import Database
from crm_shared.events import ContactCreated, Topic, event_type, make_event
from crm_shared.kafka import EventProducer, cloudevent_headers, create_broker, ensure_topics
from crm_shared.outbox import Outbox
from crm_shared.service import Runtime, tune_gc
from crm_shared.settings import ServiceSettings


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


async def produce(bootstrap: str, topic: str, count: int) -> None:
    producer = EventProducer(bootstrap, client_id="bench-producer")
    await producer.start()
    try:
        headers = cloudevent_headers()
        records = []
        for i in range(count):
            data = ContactCreated(
                contact_id=str(uuid.uuid4()),
                kind="person",
                name=f"Bench Kunde {i}",
                email=f"bench{i}@example.com",
                status="inbox",
                version=1,
            )
            event = make_event(data, source="/crm/contacts")
            # as the relay sends them: with the owner's position (the consumer records
            # how far it got from it); one commit of 50 events each
            positioned = [*headers, (POSITION_HEADER, format_position("contacts", (i // 50, i)))]
            records.append((topic, event.key, event.to_bytes(), positioned))
        for start in range(0, count, 5000):
            await producer.send_many(records[start : start + 5000])
    finally:
        await producer.stop()


async def raw_baseline(bootstrap: str, topic: str, count: int) -> float:
    """Seconds a bare aiokafka consumer needs to read ``count`` records of ``topic``."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        seen = 0
        started = time.perf_counter()
        while seen < count:
            batches = await consumer.getmany(timeout_ms=500)
            seen += sum(len(records) for records in batches.values())
        return time.perf_counter() - started
    finally:
        await consumer.stop()


async def committed(admin: AIOKafkaAdminClient, group_id: str, topic: str) -> int:
    offsets = await admin.list_consumer_group_offsets(group_id)
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic)


async def _noop(_: Any) -> None:
    return None


def service_runtime(
    service: str, bootstrap: str, url: str, redis: Redis, producer: EventProducer
) -> tuple[Runtime[Any], Sequence[EventConsumer], Path]:
    """The runtime a service's ``create_app`` would wire (without the HTTP side), the
    consumers it builds from its dependencies (not started: no loops, no jobs) and its
    migrations."""
    entry = SERVICES[service]
    settings = (
        entry.settings(
            kafka_bootstrap=bootstrap,
            database_url=url,
            redis_prefix=f"bench:{uuid.uuid4().hex[:8]}",
        )
        if service == "reminders"
        else entry.settings(kafka_bootstrap=bootstrap, database_url=url)
    )
    runtime = Runtime(
        settings=settings,
        producer=producer,
        outbox=Outbox(settings.source),
        db=Database(url),
        redis=redis,
    )
    assert entry.deps is not None and entry.consumers is not None
    return runtime, entry.consumers(entry.deps(runtime)), entry.migrations


async def consume(
    args: argparse.Namespace,
    bootstrap: str,
    server_url: str,
    redis_url: str,
    topic: str,
    batch_size: int,
) -> dict[str, float]:
    """Run the service's contacts consumer over ``topic`` until it is through."""
    url = await create_database(server_url, prefix="bench_consumer")
    redis = Redis.from_url(redis_url)
    producer = EventProducer(bootstrap, client_id="bench-dlq")
    await producer.start()
    runtime, consumers, migrations_dir = service_runtime(
        args.service, bootstrap, url, redis, producer
    )
    db = runtime.database
    await migrations.upgrade(db, migrations_dir)
    (consumer,) = [c for c in consumers if c.topic == Topic.CONTACTS]
    consumer.topic = topic  # the bench's own topic; the handlers are the service's
    consumer.group_id = f"bench-{uuid.uuid4().hex[:8]}"
    consumer.batch_size = batch_size
    if args.handler == "noop":  # the consumer's own cost: parse, dedup, commit; no effect
        consumer._handled = {event_type("ContactCreated"): (_noop, ContactCreated)}
    broker = create_broker(bootstrap, client_id=consumer.group_id)
    register_consumers(broker, [consumer])
    tune_gc(ServiceSettings().gc_threshold)  # as the service does once it is up
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    profile = cProfile.Profile() if args.profile else None
    cpu = time.process_time()
    try:
        await broker.start()
        subscriber: Any = broker.subscribers[0]
        # polled: the consumer signals neither its assignment nor its commits
        while subscriber.consumer is None or not subscriber.consumer.assignment():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        cpu = time.process_time()
        pg_cpu = tree_cpu_seconds(args.postgres_pid)
        if profile is not None:
            profile.enable()
        while await committed(admin, consumer.group_id, topic) < args.events:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        if profile is not None:
            profile.disable()
            profile.dump_stats(f"{args.profile}.{batch_size}")
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        pg_cpu = tree_cpu_seconds(args.postgres_pid) - pg_cpu
    finally:
        await broker.stop()
        await admin.close()
        await producer.stop()
        await db.dispose()
        await redis.aclose()
    return {"seconds": seconds, "cpu": cpu, "pg_cpu": pg_cpu}


async def run(args: argparse.Namespace, bootstrap: str, server_url: str, redis_url: str) -> None:
    topic = f"bench.contacts.{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [topic, f"{topic}.dlq"], partitions=1)
    print(
        f"producing {args.events} ContactCreated events on {topic} (1 partition); "
        f"consumer: {args.service}, handler: {args.handler}"
    )
    await produce(bootstrap, topic, args.events)

    raw_seconds = await raw_baseline(bootstrap, topic, args.events)
    print(
        f"{'raw aiokafka consume':<28} {args.events / raw_seconds:>9,.0f} events/s "
        f"({raw_seconds:.2f} s)  load {load()}"
    )
    for size in args.batch_sizes:
        before = load()
        result = await consume(args, bootstrap, server_url, redis_url, topic, size)
        rate = args.events / result["seconds"]
        label = "per event (batch_size=1)" if size == 1 else f"batch_size={size}"
        postgres = (
            f" + PostgreSQL {result['pg_cpu'] / args.events * 1000:.3f}"
            if args.postgres_pid
            else ""
        )
        print(
            f"{label:<28} {rate:>9,.0f} events/s ({result['seconds']:.2f} s, "
            f"{result['cpu'] / args.events * 1000:.3f} CPU s per 1,000 events{postgres}, "
            f"{raw_seconds / result['seconds'] * 100:.1f} % of raw)  "
            f"load {before} -> {load()}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument(
        "--batch-sizes",
        type=lambda text: [int(x) for x in text.split(",")],
        default=[1, 50, 200],
        help="comma-separated; 1 means one event per transaction",
    )
    parser.add_argument(
        "--service",
        choices=["history", "interactions", "campaigns", "notifier", "reminders"],
        default="history",
        help="whose crm.contacts consumer to run",
    )
    parser.add_argument(
        "--handler",
        choices=["service", "noop"],
        default="service",
        help="the service's handlers, or none (dedup and commits only)",
    )
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile per batch size")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with LocalServers() as servers:
        kafka, postgres, redis = servers.kafka(), servers.postgres(), servers.redis()
        args.postgres_pid = servers.postgres_pid
        asyncio.run(run(args, kafka, postgres, redis))


if __name__ == "__main__":
    main()
