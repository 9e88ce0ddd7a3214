"""CRM dashboard latency at 200,000 opportunities over 50,000 companies on PostgreSQL.

Seeds a database migrated with the campaigns service's own migrations (COPY, directly),
writes the dashboard facts with the service's own code (``fill_missing_facts``, as at a
start after the upgrade; the trigger of ``crm_campaigns.dashboard.rollup`` records their
totals) and folds the totals as the service does at start, then runs five dashboard
queries with one to three grouping levels through the service's query code
(``crm_campaigns.dashboard.queries.run_dashboard``: filters to codes, SQLAlchemy
statement, session, decoding and sorting the groups, Decimal results) and, in the same
run, three baselines:

- bare: the service's own statement compiled with its values inlined, over asyncpg
  (what the service adds on top of the database);
- facts: the service's code told not to use the totals (one row per opportunity: what
  the totals save);
- naive: the same aggregate written plainly over the opportunity table, grouping by its
  text columns and joining the link tables (what the fact table saves).

Each query's result is checked against the naive SQL's, to the cent.

Prints p50/p95 of each and the ratios. Goal: p95 <= 100 ms for every query.

    uv run python bench/dashboard.py [--opportunities 200000] [--companies 50000] [--runs 30]

Starts its own PostgreSQL (crm_dev.servers.PostgresServer) unless CRM_TEST_POSTGRES_URL
is set.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from crm_campaigns.crm_settings.schemas import DEFAULT_SETTINGS
from crm_campaigns.dashboard.facts import fill_missing_facts
from crm_campaigns.dashboard.queries import DASHBOARD_WORK_MEM, dashboard_plan, run_dashboard
from crm_campaigns.dashboard.rollup import DELTA, ROLLUP, Compactor
from crm_campaigns.main import MIGRATIONS
from crm_campaigns.opportunities.schemas import OpportunityFilter
from crm_dev.servers import LocalServers
from crm_dev.testing import create_database
from crm_shared.db import Database
from crm_shared.migrations import upgrade

GOAL_MS = 100.0

REVENUE_GROUP = (
    "CASE WHEN revenue_cents BETWEEN 0 AND 999999 THEN 'klein' "
    "WHEN revenue_cents BETWEEN 1000000 AND 4999999 THEN 'mittel' "
    "WHEN revenue_cents BETWEEN 5000000 AND 24999999 THEN 'groß' "
    "WHEN revenue_cents >= 25000000 THEN 'sehr groß' END"
)
NAIVE_KEYS = {
    "crm_status": "o.crm_status",
    "company_size": "o.company_size",
    "company_group": "o.company_group",
    "assignee": "o.assignee_id",
    "revenue_group": REVENUE_GROUP,
    "product": "p.product",
    "campaign": "k.campaign_id",
}


def naive_sql(flt: OpportunityFilter, group_by: list[str]) -> str:
    """The dashboard aggregate written plainly over the opportunity table (text keys)."""
    keys = ", ".join(NAIVE_KEYS[g] for g in group_by)
    joins = ""
    if "product" in group_by:
        joins += " LEFT JOIN opportunity_product p ON p.opportunity_id = o.id"
    if "campaign" in group_by:
        joins += " LEFT JOIN opportunity_campaign k ON k.opportunity_id = o.id"
    where = ["true"]
    if flt.revenue_group:
        where.append(f"{REVENUE_GROUP} IN ({', '.join(repr(v) for v in flt.revenue_group)})")
    if flt.users_from is not None:
        where.append(f"o.expected_users >= {flt.users_from}")
    if flt.users_to is not None:
        where.append(f"o.expected_users <= {flt.users_to}")
    positions = ", ".join(str(i + 1) for i in range(len(group_by)))
    return (
        f"SELECT {keys}, count(*), sum(o.revenue_cents), "  # noqa: S608 - constants only
        f"sum(o.revenue_cents * o.closing_probability) FROM opportunity o{joins} "
        f"WHERE {' AND '.join(where)} GROUP BY {positions} ORDER BY {positions}"
    )


QUERIES: list[tuple[str, OpportunityFilter, list[str]]] = [
    ("1 level: crm_status", OpportunityFilter(), ["crm_status"]),
    ("2 levels: crm_status, company_size", OpportunityFilter(), ["crm_status", "company_size"]),
    (
        "3 levels: company_group, revenue_group, assignee",
        OpportunityFilter(),
        ["company_group", "revenue_group", "assignee"],
    ),
    (
        "2 levels: product, crm_status | revenue_group=groß",
        OpportunityFilter(revenue_group=["groß"]),
        ["product", "crm_status"],
    ),
    (
        "3 levels: campaign, company_size, crm_status | users 10..500",
        OpportunityFilter(users_from=10, users_to=500),
        ["campaign", "company_size", "crm_status"],
    ),
]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def connect(url: str) -> asyncpg.Connection:
    u = make_url(url)
    return await asyncpg.connect(
        host=u.host, port=u.port, user=u.username, password=u.password, database=u.database
    )


async def seed(url: str, opportunities: int, companies: int) -> None:
    rnd = random.Random(7)
    s = DEFAULT_SETTINGS
    sizes = [x.name for x in s.company_sizes]
    groups = s.company_groups
    company_ids = [str(uuid.uuid4()) for _ in range(companies)]
    persons = companies  # one contact person per company
    contacts: list[tuple[Any, ...]] = []
    facts: dict[str, tuple[str, str]] = {}  # org id -> (company_size, company_group)
    for cid in company_ids:
        facts[cid] = (rnd.choice(sizes), rnd.choice(groups))
        contacts.append((cid, "company", "Firma", "customer", None, *facts[cid]))
    person_ids = []
    org_of: dict[str, str] = {cid: cid for cid in company_ids}
    for i in range(persons):
        pid = str(uuid.uuid4())
        person_ids.append(pid)
        org_of[pid] = company_ids[i]
        contacts.append((pid, "person", "Person", "customer", company_ids[i], None, None))
    statuses = s.opportunity_statuses
    assignees = [str(uuid.uuid4()) for _ in range(50)]
    campaigns = [str(uuid.uuid4()) for _ in range(20)]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    opps, products, links = [], [], []
    for n in range(opportunities):
        oid = str(uuid.uuid4())
        contact = rnd.choice(company_ids) if rnd.random() < 0.7 else rnd.choice(person_ids)
        revenue = Decimal(rnd.randint(0, 50_000_000)) / 100
        at = start + timedelta(seconds=n)
        users = rnd.randint(1, 1000) if rnd.random() < 0.8 else None
        own_products = rnd.sample(s.products, rnd.randint(0, 3))
        own_campaigns = rnd.sample(campaigns, rnd.choice([0, 0, 1, 1, 2]))
        opps.append(
            (
                oid,
                contact,
                "Chance",
                rnd.choice(statuses),
                rnd.randint(0, 100),
                revenue,
                int(revenue * 100),
                "EUR",
                users,
                rnd.choice(assignees),
                org_of[contact],
                *facts[org_of[contact]],
                json.dumps(own_products),
                json.dumps(own_campaigns),
                1,
                at,
                at,
            )
        )
        products += [(oid, p) for p in own_products]
        links += [(oid, c) for c in own_campaigns]
    conn = await connect(url)
    try:
        await conn.copy_records_to_table(
            "campaign_contact",
            records=[(*c, None, None, 1) for c in contacts],
            columns=[
                "contact_id",
                "kind",
                "name",
                "status",
                "company_id",
                "company_size",
                "company_group",
                "revenue_group",
                "employees",
                "version",
            ],
        )
        await conn.copy_records_to_table(
            "opportunity",
            records=opps,
            columns=[
                "id",
                "contact_id",
                "title",
                "crm_status",
                "closing_probability",
                "revenue_potential",
                "revenue_cents",
                "currency",
                "expected_users",
                "assignee_id",
                "org_id",
                "company_size",
                "company_group",
                "products",
                "campaign_ids",
                "version",
                "created_at",
                "updated_at",
            ],
        )
        await conn.copy_records_to_table(
            "opportunity_product", records=products, columns=["opportunity_id", "product"]
        )
        await conn.copy_records_to_table(
            "opportunity_campaign", records=links, columns=["opportunity_id", "campaign_id"]
        )
    finally:
        await conn.close()
    started = time.perf_counter()
    db = Database(url)
    try:
        async with db.unit_of_work() as session:
            written = await fill_missing_facts(session)
    finally:
        await db.dispose()
    seconds = time.perf_counter() - started
    print(f"dashboard facts of {written:,} opportunities written in {seconds:.1f} s")
    started = time.perf_counter()
    db = Database(url)
    try:
        folded = await Compactor(db, seconds=0).once()
        async with db.sessionmaker() as session:
            keys = await session.scalar(sa.select(sa.func.count()).select_from(ROLLUP))
            left = await session.scalar(sa.select(sa.func.count()).select_from(DELTA))
    finally:
        await db.dispose()
    print(
        f"dashboard totals: {folded:,} delta rows folded into {keys:,} keys"
        f" in {time.perf_counter() - started:.1f} s ({left} left)"
    )
    conn = await connect(url)
    try:
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    print(
        f"seeded {opportunities:,} opportunities, {companies:,} companies + {persons:,} persons,"
        f" {len(products):,} product links, {len(links):,} campaign links"
    )


def cpu_ms(pid: int) -> float | None:
    """CPU time (user + system) a local server process has used so far, in ms."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None  # a remote server (CRM_TEST_POSTGRES_URL elsewhere)
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


async def interleaved(
    actions: list[Any], runs: int, *, cpu_of: int | None = None
) -> tuple[list[list[float]], list[Any], float | None]:
    """Each action once per round, in turn, so a load shift hits all of them alike; the
    times per action, each action's last result, and the server CPU ms used during
    action ``cpu_of`` (mean per run; None for a remote server)."""
    times: list[list[float]] = [[] for _ in actions]
    results: list[Any] = [None] * len(actions)
    cpu_total: float | None = 0.0
    for i in range(runs + 3):
        for n, action in enumerate(actions):
            before = cpu_ms(cpu_of) if n == 0 and cpu_of is not None else None
            t0 = time.perf_counter()
            results[n] = await action()
            elapsed = (time.perf_counter() - t0) * 1000
            if before is not None and cpu_of is not None:
                after = cpu_ms(cpu_of)
                cpu_total = (
                    None if after is None or cpu_total is None else cpu_total + after - before
                )
            if i >= 3:  # warm-up runs do not count
                times[n].append(elapsed)
    return times, results, None if cpu_total is None or cpu_of is None else cpu_total / (runs + 3)


async def measure(url: str, runs: int) -> bool:
    db = Database(url)
    conn = await connect(url)
    # the bare SQL gets the same memory for its aggregate as the service's transaction
    await conn.execute(f"SET work_mem = '{DASHBOARD_WORK_MEM}'")
    print(f"server: jit available {await conn.fetchval('SELECT pg_jit_available()')}")
    backend = int(await conn.fetchval("SELECT pg_backend_pid()"))
    ok = True
    try:
        print(
            f"\n{'query':58} {'service p50/p95':>16} {'bare p50/p95':>14} {'÷bare':>6} "
            f"{'facts p50/p95':>15} {'naive p50/p95':>15} {'bare CPU':>8}"
        )
        for name, flt, group_by in QUERIES:
            async with db.sessionmaker() as session:
                plan = await dashboard_plan(session, flt, DEFAULT_SETTINGS, group_by)
            bare_sql = str(
                plan.statement.compile(
                    dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
                )
            )
            naive = naive_sql(flt, group_by)

            async def service(
                flt: OpportunityFilter = flt, group_by: list[str] = group_by, totals: bool = True
            ) -> list[dict[str, Any]]:
                async with db.sessionmaker() as session:
                    return await run_dashboard(
                        session, flt, DEFAULT_SETTINGS, group_by, totals=totals
                    )

            async def facts() -> list[dict[str, Any]]:
                return await service(totals=False)

            (
                (bare_times, service_times, facts_times, naive_times),
                (rows, groups, fact_groups, naive_rows),
                cpu_used,
            ) = await interleaved(
                [
                    lambda sql=bare_sql: conn.fetch(sql),
                    service,
                    facts,
                    lambda sql=naive: conn.fetch(sql),
                ],
                runs,
                cpu_of=backend,
            )
            # the service's groups are the naive aggregate's, to the cent
            assert len(rows) == len(groups) == len(naive_rows), (len(rows), len(groups))
            assert {
                (tuple(g["key"].values()), g["count"], int(g["revenue_potential"] * 100))
                for g in groups
            } == {(tuple(r[: len(group_by)]), r[-3], r[-2]) for r in naive_rows}, name
            assert groups == fact_groups, name
            source = "totals" if "opportunity_rollup" in bare_sql else "facts"
            # server CPU per bare query (mean; the clock ticks are 10 ms): what the query
            # costs without waiting for a core on a busy machine
            cpu = f"{cpu_used:6.1f}" if cpu_used is not None else "   n/a"
            sp50, sp95 = statistics.median(service_times), pct(service_times, 0.95)
            bp50, bp95 = statistics.median(bare_times), pct(bare_times, 0.95)
            np50, np95 = statistics.median(naive_times), pct(naive_times, 0.95)
            fp50, fp95 = statistics.median(facts_times), pct(facts_times, 0.95)
            ok = ok and sp95 <= GOAL_MS
            print(
                f"{name:58} {sp50:7.1f}/{sp95:6.1f}  {bp50:6.1f}/{bp95:6.1f} "
                f"{sp95 / bp95:5.2f}x {fp50:7.1f}/{fp95:6.1f} {np50:7.1f}/{np95:6.1f}   {cpu}"
                f"  ({len(groups)} groups, {source})"
            )
    finally:
        await conn.close()
        await db.dispose()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print("\nms; bare = the service's statement over asyncpg; facts = the service without")
    print("the totals (one row per opportunity); naive = text keys over the opportunity")
    print("table and its link tables; bare CPU = server CPU ms per bare query; the last")
    print("column says whether the service read the totals or the facts")
    print(f"goal p95 <= {GOAL_MS:.0f} ms: {'met' if ok else 'NOT met'}")
    print(f"machine: {os.cpu_count()} CPUs, load average {load} (1/5/15 min)")
    return ok


async def run(server_url: str, opportunities: int, companies: int, runs: int) -> bool:
    url = await create_database(server_url, "bench_dashboard")
    migrate_db = Database(url)
    await upgrade(migrate_db, MIGRATIONS)
    await migrate_db.dispose()
    t0 = time.perf_counter()
    await seed(url, opportunities, companies)
    print(f"seeding took {time.perf_counter() - t0:.1f} s")
    gc.collect()
    gc.freeze()  # as the service does once started (crm_shared.service)
    return await measure(url, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opportunities", type=int, default=200_000)
    parser.add_argument("--companies", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with LocalServers(prefix="bench-dashboard-") as servers:
        asyncio.run(run(servers.postgres(), args.opportunities, args.companies, args.runs))


if __name__ == "__main__":
    main()
