"""Contact search at scale: seeds contacts into PostgreSQL and times six typical queries.

The database is built by the contacts service's own migrations; seeding bypasses the API
(COPY). Each query runs through the service's query code (``ContactRepository.page``,
the same call ``GET /api/contacts`` makes, in a fresh session each time) and, in the same
run, as hand-written bare SQL; the table prints p50/p95 of both and the ratio.
Goal: p95 <= 50 ms for every query at 1,000,000 contacts.

    uv run python bench/contacts_search.py [--rows 1000000] [--runs 40]

Starts its own PostgreSQL (crm_dev.servers.PostgresServer) unless
CRM_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from crm_contacts.main import MIGRATIONS
from crm_contacts.repository import ContactRepository
from crm_contacts.schemas import ContactFilter
from crm_dev.servers import LocalServers
from crm_dev.testing import create_database
from crm_shared import migrations
from crm_shared.db import Database

STEMS = ("Müll", "Schmi", "Schnei", "Fisch", "Web", "Mey", "Wagn", "Beck", "Schulz", "Hoff")
STEMS += ("Koch", "Rich", "Klein", "Wolf", "Schrö", "Neum", "Schwarz", "Zimm", "Braun", "Krüg")
SURNAMES = [
    s + t
    for s in STEMS
    for t in ("er", "ert", "mann", "ling", "berg", "hold", "ke", "ow", "sen", "inger")
]
FIRST = ["Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hans", "Ida", "Jonas"]
STATUSES = ["customer"] * 5 + ["prospect"] * 3 + ["inbox", "archived"]
CRM_STATUSES = ["Bedarf ermittelt", "Informationen zugesandt", "Angebot", "Verhandlung", "Neu"]
SIZES = ["1-9", "10-49", "50-249", "250-999", "1000+"]
REVENUE = ["A", "B", "C", "D", "E"]
PRODUCTS = [f"Produkt {i}" for i in range(20)]
ACTIONS = [f"Aktion {i}" for i in range(20)]
INFOS = [f"Info {i}" for i in range(10)]
STAFF = [str(uuid.UUID(int=i + 1)) for i in range(50)]
COMPETENCES = {str(uuid.UUID(int=1000 + c)): STAFF[c * 5 : c * 5 + 5] for c in range(10)}
TODAY = date(2026, 11, 1)
GROUP_ID = str(uuid.UUID(int=99))
IMPORT_BATCH = 2000  # CRM_CONTACTS_IMPORT_BATCH_SIZE's default
CONTACT_COLUMNS = [
    "id", "kind", "name", "email", "phone", "language", "status", "status_before_archive",
    "company_id", "customer_number", "credit_hold", "assignment_mode", "assigned_staff_id",
    "assigned_competence_id", "address", "crm", "crm_status", "company_group",
    "company_size", "employees", "revenue_group", "newsletter", "data_source", "interested",
    "version", "created_at", "updated_at",
]  # fmt: skip


def asyncpg_dsn(url: str) -> str:
    u = make_url(url)
    return f"postgresql://{u.username}@{u.host}:{u.port}/{u.database}"


async def seed(url: str, rows: int) -> None:
    rnd = random.Random(7)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    now = datetime.now(UTC)
    try:
        batch = 100_000
        group_size = min(5000, rows // 10)
        for start in range(0, rows, batch):
            contacts: list[tuple[Any, ...]] = []
            products: list[tuple[str, str]] = []
            history: list[tuple[Any, ...]] = []
            members: list[tuple[str, str]] = []
            for i in range(start, min(rows, start + batch)):
                cid = str(uuid.UUID(int=(1 << 64) + i))
                name = f"{rnd.choice(SURNAMES)}, {rnd.choice(FIRST)} {i}"
                mode = rnd.choice(("staff", "staff", "competence", "all"))
                staff = rnd.choice(STAFF) if mode == "staff" else None
                competence = rnd.choice(list(COMPETENCES)) if mode == "competence" else None
                crm = {
                    "crm_status": rnd.choice(CRM_STATUSES),
                    "company_size": rnd.choice(SIZES),
                    "revenue_group": rnd.choice(REVENUE),
                    "products": rnd.sample(PRODUCTS, rnd.randint(0, 3)),
                    "newsletter": rnd.random() < 0.3,
                }
                contacts.append(
                    (
                        cid, "company" if i % 3 == 0 else "person", name, None, None, "de",
                        rnd.choice(STATUSES), None, None, f"K{i:08d}", False, mode, staff,
                        competence, None, json.dumps(crm), crm["crm_status"], None,
                        crm["company_size"], None, crm["revenue_group"], crm["newsletter"],
                        None, None, 1, now, now,
                    )
                )  # fmt: skip
                products += [(cid, p) for p in crm["products"]]
                day = TODAY - timedelta(days=rnd.randint(0, 730))
                history.append(
                    (
                        str(uuid.uuid4()), cid, day, rnd.choice(["AB", "CD", "EF", "GH"]),
                        rnd.choice(ACTIONS), rnd.choice(INFOS), f"Wert {rnd.randint(0, 19)}",
                        None, None, None, rnd.random() < 0.5, False,
                    )
                )  # fmt: skip
                if i < group_size * 20 and i % 20 == 0:
                    members.append((GROUP_ID, cid))
            # in statements of an import batch's size (2,000 rows), as contacts arrive
            # through the import: contact_name (the substring search) gets each
            # statement's rows in name order, not the whole table's
            for at in range(0, len(contacts), IMPORT_BATCH):
                await conn.copy_records_to_table(
                    "contact",
                    records=contacts[at : at + IMPORT_BATCH],
                    columns=CONTACT_COLUMNS,
                )
            await conn.copy_records_to_table(
                "contact_product", records=products, columns=["contact_id", "product"]
            )
            await conn.copy_records_to_table(
                "history_entry_copy",
                records=history,
                columns=[
                    "entry_id", "contact_id", "date", "staff_initials", "action", "info",
                    "field1", "field2", "field3", "field4", "field5", "field6",
                ],
            )  # fmt: skip
            if members:
                await conn.copy_records_to_table(
                    "group_member", records=members, columns=["group_id", "contact_id"]
                )
            print(f"  seeded {min(rows, start + batch):,} contacts", flush=True)
        await conn.execute(
            "INSERT INTO contact_group (id, name, kind, assignment_mode, created_at)"
            " VALUES ($1, 'Bench', 'static', 'all', now())",
            GROUP_ID,
        )
        await conn.executemany(
            "INSERT INTO competence_copy (competence_id, name) VALUES ($1, $2)",
            [(c, f"Kompetenz {n}") for n, c in enumerate(COMPETENCES)],
        )
        await conn.executemany(
            "INSERT INTO competence_member (competence_id, staff_id) VALUES ($1, $2)",
            [(c, s) for c, members in COMPETENCES.items() for s in members],
        )
        # as autovacuum does after a bulk load: statistics, and the visibility map that
        # lets the sort index answer without the table (index-only scans)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


def queries(rnd: random.Random) -> dict[str, tuple[Callable[[], ContactFilter], Any]]:
    """Name → (a new filter for each run, the same query as bare SQL with its params)."""
    base = "SELECT * FROM contact WHERE {} ORDER BY sort_name, id LIMIT 51"
    state: dict[str, Any] = {}

    def prefix() -> ContactFilter:
        state["prefix"] = rnd.choice(SURNAMES)[:4].lower()
        return ContactFilter(q=state["prefix"], match="prefix")

    def substring() -> ContactFilter:
        state["sub"] = rnd.choice(SURNAMES)[2:6].lower()
        return ContactFilter(q=state["sub"])

    def status_assignee() -> ContactFilter:
        state["staff"] = rnd.choice(STAFF)
        return ContactFilter(status="customer", assigned_to=state["staff"])

    def crm_combo() -> ContactFilter:
        state["crm"] = (rnd.choice(CRM_STATUSES), rnd.choice(SIZES), rnd.choice(PRODUCTS))
        s, z, p = state["crm"]
        return ContactFilter(crm_status=s, company_size=z, product=p)

    def history() -> ContactFilter:
        state["hist"] = (rnd.choice(ACTIONS), TODAY - timedelta(days=30))
        a, d = state["hist"]
        return ContactFilter.model_validate({"history.action": a, "history.date_from": d})

    def group() -> ContactFilter:
        return ContactFilter(group_id=GROUP_ID)

    return {
        "name prefix": (
            prefix,
            lambda: (
                base.format("sort_name LIKE :p"),
                {"p": state["prefix"] + "%"},
            ),
        ),
        "substring": (
            substring,
            lambda: (
                # the order through an expression the name index cannot serve, as the
                # repository does for substrings (ContactRepository.page says why)
                base.replace(
                    "ORDER BY sort_name", "ORDER BY (sort_name || '') COLLATE \"C\""
                ).format("id IN (SELECT id FROM contact_name WHERE sort_name LIKE :p)"),
                {"p": f"%{state['sub']}%"},
            ),
        ),
        "status + assignee": (
            status_assignee,
            lambda: (
                base.format(
                    "status = 'customer' AND (assigned_staff_id = :s OR assigned_competence_id"
                    " IN (SELECT competence_id FROM competence_member WHERE staff_id = :s))"
                ),
                {"s": state["staff"]},
            ),
        ),
        "CRM property combo": (
            crm_combo,
            lambda: (
                base.format(
                    "crm_status = :s AND company_size = :z AND id IN"
                    " (SELECT contact_id FROM contact_product WHERE product = :p)"
                ),
                dict(zip("szp", state["crm"], strict=True)),
            ),
        ),
        "history field": (
            history,
            lambda: (
                base.format(
                    "id IN (SELECT contact_id FROM history_entry_copy"
                    " WHERE action = :a AND date >= :d)"
                ),
                dict(zip("ad", state["hist"], strict=True)),
            ),
        ),
        "group": (
            group,
            lambda: (
                base.format("id IN (SELECT contact_id FROM group_member WHERE group_id = :g)"),
                {"g": GROUP_ID},
            ),
        ),
    }


async def timed(action: Callable[[], Awaitable[list[str]]]) -> tuple[float, list[str]]:
    started = time.perf_counter()
    found = await action()
    return (time.perf_counter() - started) * 1000, found


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(url: str, runs: int) -> list[tuple[str, list[float], list[float], int]]:
    db = Database(url)
    rnd = random.Random(11)
    results = []
    try:
        for name, (make_filter, make_sql) in queries(rnd).items():
            ours: list[float] = []
            bare: list[float] = []
            rows_seen = 0
            for run in range(runs + 3):  # the first three warm the caches
                f = make_filter()
                sql, params = make_sql()

                async def via_repository(f: ContactFilter = f) -> list[str]:
                    async with db.sessionmaker() as session:
                        rows = await ContactRepository(session).page(f, after=None, limit=51)
                        return [contact.id for contact, _ in rows]

                async def via_sql(sql: str = sql, params: dict[str, Any] = params) -> list[str]:
                    async with db.sessionmaker() as session:
                        return [r.id for r in (await session.execute(text(sql), params)).all()]

                t_ours, n_ours = await timed(via_repository)
                t_bare, n_bare = await timed(via_sql)
                if n_ours != n_bare:  # the same page, in the same order
                    raise SystemExit(
                        f"{name}: repository and bare SQL differ ({len(n_ours)} / {len(n_bare)}"
                        " rows)"
                    )
                if run >= 3:
                    ours.append(t_ours)
                    bare.append(t_bare)
                    rows_seen += len(n_ours)
            results.append((name, ours, bare, rows_seen // runs))
    finally:
        await db.dispose()
    return results


async def run(url: str, rows: int, runs: int, *, reuse: bool = False) -> None:
    db = Database(url)
    await migrations.upgrade(db, MIGRATIONS)
    if reuse:
        async with db.sessionmaker() as session:
            rows = int(await session.scalar(text("SELECT count(*) FROM contact")) or 0)
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:  # after migrations that rewrote a table, as autovacuum would
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()
    await db.dispose()
    if not reuse:
        started = time.monotonic()
        await seed(url, rows)
        print(f"seeded {rows:,} contacts in {time.monotonic() - started:.0f} s\n")
    results = await measure(url, runs)
    print(f"{rows:,} contacts, {runs} runs per query, first page (50 rows)")
    header = f"{'query':<20} {'p50 ms':>8} {'p95 ms':>8} {'SQL p50':>8} {'SQL p95':>8}"
    print(f"{header} {'ratio p95':>9} {'rows':>5}  goal p95 <= 50 ms")
    for name, ours, bare, found in results:
        p95, b95 = pct(ours, 0.95), pct(bare, 0.95)
        print(
            f"{name:<20} {statistics.median(ours):8.1f} {p95:8.1f} "
            f"{statistics.median(bare):8.1f} {b95:8.1f} {p95 / b95:9.2f} {found:5d}  "
            f"{'ok' if p95 <= 50 else 'MISSED'}"
        )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load} (1/5/15 min)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument(
        "--reuse",
        metavar="DATABASE_URL",
        help="measure an already seeded database (from an earlier run) instead of seeding",
    )
    args = parser.parse_args()
    if args.reuse:
        asyncio.run(run(args.reuse, args.rows, args.runs, reuse=True))
        return
    with LocalServers(prefix="crm-bench-") as servers:
        database = asyncio.run(create_database(servers.postgres(), "contacts_bench"))
        asyncio.run(run(database, args.rows, args.runs))


if __name__ == "__main__":
    main()
