"""CSV import through the HTTP API: 100,000 rows posted to ``POST /api/contacts/import``
at the gateway (streamed, as a client uploading a file would), on PostgreSQL.

Prints seconds and rows/s, and in the same run the floor: the same rows written straight
into the contact table of the same database with asyncpg ``COPY``, and the ratio.
Goal: 100,000 rows in <= 30 s. Also prints the load average before and after, and the
CPU seconds each service process (and PostgreSQL and Kafka, when the bench started them)
used during the import (less noisy than the wall time on a shared machine).

    uv run python bench/contacts_import.py [--rows 100000] [--direct] [--async]
        [--only-import] [--warmup N]

``--direct`` posts to the contacts service instead of the gateway; ``--async`` sends
``Prefer: respond-async`` and polls the import job until it is done; ``--only-import``
starts only the contacts service and the gateway, so the other services' consumers do
not compete for the CPU while they read the 100,000 ``ContactCreated`` events (those
events wait in Kafka; the relay still publishes them during the import). ``--warmup N``
imports N rows first, not counted, and waits for the consumers: freshly started
processes compile and cache first (the JVM's JIT, prepared statements, pools).

With every service running it then waits until each consumer group of ``crm.contacts``
has taken in the whole import and prints when each did, and the CPU seconds until then.

Starts Kafka, Redis and PostgreSQL unless CRM_KAFKA_BOOTSTRAP, CRM_REDIS_URL,
CRM_TEST_POSTGRES_URL are set, and every service of the stack.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from crm_dev.servers import KafkaServer, PostgresServer, RedisServer, free_port, tree_cpu_seconds
from crm_dev.stack import IMPLEMENTED, Stack, StackConfig
from crm_dev.testing import create_database
from crm_shared.events import CrmSettingsChanged, Topic, make_event
from crm_shared.kafka import EventProducer, ensure_topics

HEADER = "kind,name,email,phone,language,customer_number,crm.crm_status,crm.products\n"


def csv_lines(rows: int, tag: str) -> list[str]:
    return [
        f"person,Import {tag} {i},kunde{i}@{tag}.example,+49 30 {i:07d},de,{tag}-{i},Neu,A;B\n"
        for i in range(rows)
    ]


async def announce_crm_lists(bootstrap: str) -> None:
    """A ``CrmSettingsChanged`` with the lists the rows use, newer than any the campaigns
    service announces at its start (which has the defaults)."""
    producer = EventProducer(bootstrap, client_id="bench-crm-lists")
    await producer.start()
    try:
        lists = CrmSettingsChanged(
            opportunity_statuses=["Bedarf ermittelt"],
            partner_statuses=["Neu"],
            products=["A", "B"],
            version=1_000_000,
        )
        await producer.publish(Topic.CAMPAIGNS, make_event(lists, source="/crm/campaigns"))
    finally:
        await producer.stop()


async def post_csv(
    gateway: str, lines: list[str], target: str | None = None, use_job: bool = False
) -> tuple[float, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=gateway, timeout=600) as api:
        token = (
            await api.post("/api/auth/token", json={"username": "admin", "password": "bench-admin"})
        ).json()["access_token"]

        async def body() -> AsyncIterator[bytes]:
            yield HEADER.encode()
            for start in range(0, len(lines), 2000):
                yield "".join(lines[start : start + 2000]).encode()

        headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
        if use_job:
            headers["Prefer"] = "respond-async"
        started = time.monotonic()
        response = await api.post(
            f"{target or gateway}/api/contacts/import", content=body(), headers=headers
        )
        if use_job and response.status_code == 202:
            accepted = time.monotonic() - started
            location = f"{target or gateway}{response.headers['location']}"
            while (job := (await api.get(location, headers=headers)).json())["state"] == "running":
                print(f"  job: {job['done']:,} of {job['total']:,} lines", end="\r")
                await asyncio.sleep(0.5)
            print(f"  job accepted after {accepted:.2f} s; {job['state']}: {job['message'] or ''}")
            return time.monotonic() - started, job
        elapsed = time.monotonic() - started
        if response.status_code != 200:
            raise SystemExit(
                f"import failed after {elapsed:.1f} s: {response.status_code} {response.text}"
            )
        return elapsed, response.json()


async def pg_connect(url: str) -> asyncpg.Connection:
    u = httpx.URL(url.replace("postgresql+asyncpg", "http"))
    return await asyncpg.connect(
        host=u.host, port=u.port, user=u.username or "postgres", database=u.path.lstrip("/")
    )


async def catch_up(
    bootstrap: str, contacts_url: str, started: float, give_up_after: float = 900
) -> dict[str, float]:
    """Seconds from the start of the import until the contacts outbox is empty (every
    event on Kafka) and then until each consumer group of ``crm.contacts`` has committed
    the topic's end: when the other services have taken in the whole import."""
    conn = await pg_connect(contacts_url)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await reader.start()
    done: dict[str, float] = {}
    try:
        # polled: the relay signals nothing to another process
        while await conn.fetchval("SELECT count(*) FROM outbox_message"):  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        done["contacts outbox published"] = time.monotonic() - started
        topic = Topic.CONTACTS.value
        (described,) = await admin.describe_topics([topic])
        partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
        end = await reader.end_offsets(partitions)
        total = sum(end.values())
        # the groups that read crm.contacts (each has committed some of the import by now)
        groups = []
        for group, _ in await admin.list_consumer_groups():
            offsets = await admin.list_consumer_group_offsets(group)
            if any(tp in end for tp in offsets):
                groups.append(group)
        while time.monotonic() - started < give_up_after:
            behind = {}
            for group in groups:
                if group in done:
                    continue
                offsets = await admin.list_consumer_group_offsets(group)
                read = sum(meta.offset for tp, meta in offsets.items() if tp in end)
                if read >= total:
                    done[group] = time.monotonic() - started
                else:
                    behind[group] = total - read
            if not behind:
                break
            print(f"  behind on crm.contacts: {behind}", end="\r")
            await asyncio.sleep(0.5)
        print()
        return done
    finally:
        await reader.stop()
        await admin.close()
        await conn.close()


async def copy_floor(url: str, rows: int) -> float:
    """The same rows straight into a copy of the contact table with COPY."""
    conn = await pg_connect(url)
    try:
        await conn.execute("CREATE TEMP TABLE floor (LIKE contact INCLUDING ALL)")
        now = datetime.now(UTC)
        crm = json.dumps({"crm_status": "Neu", "products": ["A", "B"]})
        records = [
            (
                str(uuid.uuid4()), "person", f"Import floor {i}", f"kunde{i}@floor.example",
                f"+49 30 {i:07d}", "de", "inbox", f"floor-{i}", False, "all", crm, "Neu", 1,
                now, now,
            )
            for i in range(rows)
        ]  # fmt: skip
        started = time.monotonic()
        await conn.copy_records_to_table(
            "floor",
            records=records,
            columns=[
                "id", "kind", "name", "email", "phone", "language", "status", "customer_number",
                "credit_hold", "assignment_mode", "crm", "crm_status", "version", "created_at",
                "updated_at",
            ],
        )  # fmt: skip
        return time.monotonic() - started
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--direct", action="store_true", help="post to the contacts service, not the gateway"
    )
    parser.add_argument(
        "--async", dest="use_job", action="store_true", help="as an import job, polled"
    )
    parser.add_argument(
        "--only-import", action="store_true", help="start only the contacts service and gateway"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=0,
        help="rows imported first and not counted (0: measure right after the start)",
    )
    args = parser.parse_args()
    services = ("contacts", "gateway") if args.only_import else IMPLEMENTED
    work = Path(tempfile.mkdtemp(prefix="crm-bench-import-"))
    servers: list[Any] = []

    def server(cls: Any, sub: str) -> Any:
        instance = cls(work / sub)
        instance.start()
        servers.append(instance)
        return instance

    kafka_server = None if os.environ.get("CRM_KAFKA_BOOTSTRAP") else server(KafkaServer, "kafka")
    kafka = kafka_server.bootstrap if kafka_server else os.environ["CRM_KAFKA_BOOTSTRAP"]
    redis = os.environ.get("CRM_REDIS_URL") or server(RedisServer, "redis").url
    pg_server = None if os.environ.get("CRM_TEST_POSTGRES_URL") else server(PostgresServer, "pg")
    postgres = pg_server.url if pg_server else os.environ["CRM_TEST_POSTGRES_URL"]
    asyncio.run(ensure_topics(kafka))
    databases = {n: asyncio.run(create_database(postgres, n)) for n in IMPLEMENTED}
    stack = Stack(
        StackConfig(
            kafka_bootstrap=kafka,
            redis_url=redis,
            smtp_host="127.0.0.1",
            smtp_port=free_port(),
            data_dir=work / "data",
            database_urls=databases,
            env={
                "CRM_ENV": "test",
                "CRM_ADMIN_PASSWORD": "bench-admin",
                "CRM_LOG_LEVEL": "WARNING",
                # the gateway routes to (and waits for) only the services started
                **{
                    f"CRM_GATEWAY_{name.upper()}_URL": ""
                    for name in IMPLEMENTED
                    if name not in services and name != "gateway"
                },
            },
        )
    )
    log_file = work / "services.log"
    print(f"service logs: {log_file}")

    def to_file(name: str, line: str) -> None:
        with open(log_file, "a") as handle:
            handle.write(f"{name}: {line}\n")

    stack.sink = to_file
    tag = uuid.uuid4().hex[:8]
    lines = csv_lines(args.rows, tag)
    try:
        stack.start_all(services)
        # the rows' CRM status and products must be in the admin lists (the campaigns
        # service announces them; with --only-import it does not run, so the bench does)
        asyncio.run(announce_crm_lists(kafka))
        target = f"http://127.0.0.1:{stack.port_of('contacts')}" if args.direct else None
        pids = {name: process.pid for name, process in stack.services.items()}
        for name, instance in (("postgres", pg_server), ("kafka", kafka_server)):
            if instance is not None and instance.proc and instance.proc.process:
                pids[name] = instance.proc.process.pid
        if args.warmup:
            # freshly started processes first compile and cache (the JVM's JIT, prepared
            # statements, pools); a running system has done that long ago
            warm = csv_lines(args.warmup, f"warm{tag}")
            seconds, _ = asyncio.run(post_csv(stack.gateway_url, warm, target, args.use_job))
            if not args.only_import:
                asyncio.run(catch_up(kafka, databases["contacts"], time.monotonic() - seconds))
            print(f"warm-up (not counted): {args.warmup:,} rows in {seconds:.2f} s")
        cpu_before = {name: tree_cpu_seconds(pid) for name, pid in pids.items()}
        load_before = os.getloadavg()[0]
        elapsed, result = asyncio.run(post_csv(stack.gateway_url, lines, target, args.use_job))
        load_after = os.getloadavg()[0]
        cpu = {name: tree_cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
        caught: dict[str, float] = {}
        if not args.only_import:
            started = time.monotonic() - elapsed
            caught = asyncio.run(catch_up(kafka, databases["contacts"], started))
            cpu_total = {n: tree_cpu_seconds(pid) - cpu_before[n] for n, pid in pids.items()}
        floor = asyncio.run(copy_floor(databases["contacts"], args.rows))
    finally:
        stack.stop_all()
        for instance in reversed(servers):
            instance.stop()
        for sub in ("kafka", "redis", "pg", "data"):  # the data (gigabytes); the log stays
            shutil.rmtree(work / sub, ignore_errors=True)
    errors = result.get("error_count", len(result["errors"]))
    print(f"\nimported {result['created']:,} of {args.rows:,} rows, {errors} errors")
    print(f"through the API:      {elapsed:8.2f} s  {result['created'] / elapsed:10,.0f} rows/s")
    print(f"floor (bare COPY):    {floor:8.2f} s  {args.rows / floor:10,.0f} rows/s")
    print(f"services running:     {', '.join(services)}")
    print(f"ratio API / floor:    {elapsed / floor:8.1f}")
    print(f"load average (1 min):  {load_before:.2f} before, {load_after:.2f} after the import")
    print("CPU seconds during the import: " + ", ".join(f"{n} {c:.1f}" for n, c in cpu.items()))
    if caught:
        print("after the start of the import, taken in by every consumer of crm.contacts:")
        for name, seconds in caught.items():
            print(f"  {name:<28} {seconds:8.2f} s")
        print("CPU seconds until then: " + ", ".join(f"{n} {c:.1f}" for n, c in cpu_total.items()))
    verdict = "ok" if elapsed <= 30 * args.rows / 100_000 else "MISSED"
    print(f"goal <= 30 s for 100,000 rows: {verdict}")


if __name__ == "__main__":
    main()
