"""Reminder scheduler: 100,000 scheduled reminders, fire delay and Redis memory.

Writes ``--count`` reminders into the reminders service's database (SQLite file by
default, PostgreSQL with ``--postgres``): ``--fire`` of them come due during the run,
spread evenly over ``--window`` seconds, the rest a day later (they only sit in the
schedule). It rebuilds the Redis schedule from the database the way the service does at
start and lets ``--replicas`` in-process schedulers (the service's own ``Scheduler`` +
``ReminderService.fire``: atomic Lua claim, fired mark and ReminderDue outbox row in one
transaction) fire them. It prints the fire delay (commit time - due time) p50/p95/p99,
duplicates (must be 0), the rebuild time and Redis memory (INFO memory before/after).

Baseline, measured in the same run on the same Redis: the same due times in a bare sorted
set, polled with a plain ZRANGEBYSCORE + ZREM loop at the same poll interval (no Lua, no
lease, no database) — the floor of any sorted-set scheduler — and a bare ZADD +
ZRANGEBYSCORE round trip.

    uv run python bench/reminders.py [--count 100000] [--fire 5000] [--window 10]
        [--replicas 2] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from crm_dev.servers import PostgresServer, RedisServer
from crm_dev.testing import create_database
from crm_reminders.main import MIGRATIONS
from crm_reminders.models import Reminder
from crm_reminders.schedule import Claim, ReminderSchedule, Scheduler
from crm_reminders.service import ReminderService, stages_of
from crm_shared.db import Database
from crm_shared.migrations import upgrade
from crm_shared.outbox import Outbox


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def line(name: str, delays: list[float]) -> str:
    ms = [d * 1000 for d in delays]
    return (
        f"| {name} | {len(ms)} | {pct(ms, 50):.1f} | {pct(ms, 95):.1f} | {pct(ms, 99):.1f} "
        f"| {max(ms):.1f} |"
    )


async def used_memory(redis: Redis) -> int:
    info = await redis.info("memory")
    return int(info["used_memory"])


async def seed(db: Database, count: int, start: float, step: float) -> list[tuple[str, Any, Any]]:
    """Insert ``count`` open reminders due from ``start`` every ``step`` s; their entries."""
    entries: list[tuple[str, Any, Any]] = []
    batch: list[dict[str, Any]] = []
    table = Reminder.__table__  # type: ignore[attr-defined]
    async with db.unit_of_work() as session:
        for i in range(count):
            due = datetime.fromtimestamp(start + i * step, UTC)
            rid = str(uuid.uuid4())
            entries.append((rid, "due", due))
            batch.append(
                {
                    "id": rid,
                    "staff_id": "s1",
                    "contact_id": str(uuid.uuid4()),
                    "procedure_id": str(uuid.uuid4()),
                    "interaction_id": None,
                    "subject": f"Rückruf {i}",
                    "due_at": due,
                    "email_at": None,
                    "email_fired_at": None,
                    "due_fired_at": None,
                    "next_fire_at": due,
                    "state": "open",
                    "cleared_reason": None,
                    "created_at": datetime.now(UTC),
                    "cleared_at": None,
                }
            )
            if len(batch) == 5000:
                await session.execute(table.insert(), batch)
                batch = []
        if batch:
            await session.execute(table.insert(), batch)
    return entries


async def ours(args: argparse.Namespace, redis: Redis, db: Database) -> dict[str, Any]:
    prefix = f"bench:{uuid.uuid4().hex[:6]}"
    schedule = ReminderSchedule(redis, prefix=prefix, lease_seconds=30)
    outbox = Outbox("/crm/reminders")
    # the ones that only sit in the schedule (due a day later), then the start-up rebuild
    await seed(db, args.count - args.fire, time.time() + 86400, 1.0)
    before = await used_memory(redis)
    began = time.perf_counter()
    entries = []
    after: str | None = None
    while True:  # the service's start-up rebuild, page by page
        async with db.sessionmaker() as session:
            from crm_reminders.repository import ReminderRepository

            rows = await ReminderRepository(session).pending(until=None, after_id=after, limit=5000)
        if not rows:
            break
        batch = [(r.id, stage, at) for r in rows for stage, at in stages_of(r)]
        await schedule.add(batch, only_new=True)
        entries += batch
        after = rows[-1].id
    rebuild = time.perf_counter() - began
    # the ones due during the run, written and scheduled as the service does after commit
    start = time.time() + args.lead + args.fire / 5000
    near = await seed(db, args.fire, start, args.window / args.fire)
    await schedule.add(near)
    entries += near
    after_mem = await used_memory(redis)
    delays: list[float] = []
    fired: Counter[str] = Counter()

    async def fire(claims: list[Claim]) -> None:
        async with db.unit_of_work() as session:
            done = await ReminderService(session, outbox, schedule).fire(claims, lock=not db.sqlite)
        now = time.time()
        by_id = {c.reminder_id: c for c in claims}
        for event in done:
            fired[event.reminder_id] += 1
            delays.append(now - by_id[event.reminder_id].due)

    schedulers = [
        Scheduler(schedule, fire, poll_seconds=args.poll, batch=500) for _ in range(args.replicas)
    ]
    for s in schedulers:
        s.start()
    deadline = start + args.window + 120
    while sum(fired.values()) < args.fire and time.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    for s in schedulers:
        await s.stop()
    await redis.delete(schedule.schedule_key, schedule.processing_key)
    return {
        "delays": delays,
        "duplicates": sum(n - 1 for n in fired.values() if n > 1),
        "missing": args.fire - len(fired),
        "rebuild_s": rebuild,
        "mem_before": before,
        "mem_after": after_mem,
        "entries": len(entries),
    }


async def baseline(args: argparse.Namespace, redis: Redis) -> dict[str, Any]:
    key = f"bench:bare:{uuid.uuid4().hex[:6]}"
    rtt = []
    for i in range(1000):
        t = time.perf_counter()
        await redis.zadd(key + ":rtt", {str(i): i})
        await redis.zrangebyscore(key + ":rtt", "-inf", i, start=0, num=1)
        rtt.append(time.perf_counter() - t)
    await redis.delete(key + ":rtt")
    start = time.time() + 2 + args.count / 20000  # room to load the set first
    step = args.window / args.fire
    scores = [start + i * step if i < args.fire else start + 86400 + i for i in range(args.count)]
    for i in range(0, args.count, 10000):
        await redis.zadd(key, {f"r{j}": scores[j] for j in range(i, min(i + 10000, args.count))})
    delays: list[float] = []
    while len(delays) < args.fire:
        now = time.time()
        due = await redis.zrangebyscore(key, "-inf", now, start=0, num=500, withscores=True)
        if due:
            await redis.zrem(key, *[m for m, _ in due])
            t = time.time()
            delays += [t - score for _, score in due]
            continue
        first = await redis.zrange(key, 0, 0, withscores=True)
        wait = args.poll if not first else max(0.0, min(args.poll, first[0][1] - time.time()))
        await asyncio.sleep(wait)
    await redis.delete(key)
    return {"delays": delays, "rtt": rtt}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument(
        "--fire", type=int, default=5000, help="how many of them come due during the run"
    )
    parser.add_argument("--window", type=float, default=10.0, help="spread of those due times (s)")
    parser.add_argument(
        "--lead",
        type=float,
        default=None,
        help="seconds from scheduling to the first due time",
    )
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--poll", type=float, default=0.2)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    args = parser.parse_args()
    if args.lead is None:
        args.lead = 2.0
    args.fire = min(args.fire, args.count)

    servers: list[Any] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-reminders-"))
    try:
        redis_url = os.environ.get("CRM_REDIS_URL")
        if not redis_url:
            server = RedisServer(tmp / "redis")
            server.start()
            servers.append(server)
            redis_url = server.url
        if args.postgres:
            pg_url = os.environ.get("CRM_TEST_POSTGRES_URL")
            if not pg_url:
                pg = PostgresServer(tmp / "postgres")
                pg.start()
                servers.append(pg)
                pg_url = pg.url
            db_url = await create_database(pg_url, "bench")
        else:
            db_url = f"sqlite+aiosqlite:///{tmp / 'reminders.db'}"
        db = Database(db_url)
        await upgrade(db, MIGRATIONS)
        redis = Redis.from_url(redis_url)
        base = await baseline(args, redis)
        result = await ours(args, redis, db)
        await redis.aclose()
        await db.dispose()
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"\n{args.count} reminders scheduled, {args.fire} of them due over {args.window:.0f} s, "
        f"{args.replicas} schedulers, "
        f"poll {args.poll} s, {backend}\n"
    )
    print("| fire delay (commit - due) | n | p50 ms | p95 ms | p99 ms | max ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(line("ours: Lua claim + fired mark + outbox row", result["delays"]))
    print(line("baseline: bare ZRANGEBYSCORE + ZREM poll", base["delays"]))
    rtt_ms = [r * 1000 for r in base["rtt"]]
    print(
        f"\nbare ZADD + ZRANGEBYSCORE round trip: p50 {pct(rtt_ms, 50):.2f} ms, "
        f"p99 {pct(rtt_ms, 99):.2f} ms"
    )
    ratio50 = pct(result["delays"], 50) / max(pct(base["delays"], 50), 1e-6)
    ratio99 = pct(result["delays"], 99) / max(pct(base["delays"], 99), 1e-6)
    print(f"ratio to baseline: p50 {ratio50:.1f}x, p99 {ratio99:.1f}x")
    grown = result["mem_after"] - result["mem_before"]
    print(
        f"Redis used_memory: {result['mem_before'] / 2**20:.1f} MiB before, "
        f"{result['mem_after'] / 2**20:.1f} MiB with {result['entries']} entries scheduled "
        f"(+{grown / 2**20:.1f} MiB, {grown / max(result['entries'], 1):.0f} B per entry)"
    )
    print(f"schedule rebuilt from the database in {result['rebuild_s']:.2f} s")
    print(f"duplicates: {result['duplicates']}, not fired: {result['missing']}")
    print(f"mean delay ours {statistics.fmean(result['delays']) * 1000:.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
