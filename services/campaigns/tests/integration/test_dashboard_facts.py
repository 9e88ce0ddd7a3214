"""The dashboard's fact table and totals on a real PostgreSQL: backfill at start, the code
book, the totals kept exact through every kind of write."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from crm_campaigns.crm_settings.schemas import DEFAULT_SETTINGS, CrmSettingsData
from crm_campaigns.dashboard.facts import (
    CODE,
    FACT,
    OPP,
    CodeBook,
    fill_missing_facts,
    regroup_revenue,
    sync_facts,
)
from crm_campaigns.dashboard.queries import dashboard_plan, run_dashboard
from crm_campaigns.dashboard.rollup import DELTA, ROLLUP, Compactor
from crm_campaigns.main import MIGRATIONS
from crm_campaigns.opportunities.schemas import OpportunityFilter
from crm_shared.db import Database
from crm_shared.migrations import upgrade


def opportunity(status: str, cents: int, products: list[str]) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "id": str(uuid.uuid4()),
        "contact_id": str(uuid.uuid4()),
        "title": "Chance",
        "crm_status": status,
        "closing_probability": 50,
        "revenue_potential": cents / 100,
        "revenue_cents": cents,
        "currency": "EUR",
        "products": products,
        "campaign_ids": [],
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


async def test_opportunities_without_facts_get_them_at_start(pg_database: str) -> None:
    db = Database(pg_database)
    try:
        await upgrade(db, MIGRATIONS)
        rows = [
            opportunity("Verhandlung", 100_00, ["Support"]),
            opportunity("Verhandlung", 2_000_000_00, ["Support", "CRM Cloud"]),
            opportunity("Gewonnen", 300_00, []),
        ]
        async with db.unit_of_work() as session:  # as written before the facts existed
            await session.execute(sa.insert(OPP), rows)
        async with db.unit_of_work() as session:
            assert await fill_missing_facts(session) == 3
        async with db.unit_of_work() as session:
            assert await fill_missing_facts(session) == 0  # nothing twice
        async with db.sessionmaker() as session:
            groups = await run_dashboard(
                session, OpportunityFilter(), DEFAULT_SETTINGS, ["product", "crm_status"]
            )
        assert [
            (tuple(g["key"].values()), g["count"], str(g["revenue_potential"])) for g in groups
        ] == [
            (("CRM Cloud", "Verhandlung"), 1, "2000000.00"),
            (("Support", "Verhandlung"), 2, "2000100.00"),
            ((None, "Gewonnen"), 1, "300.00"),
        ]
        async with db.sessionmaker() as session:
            weighted = await run_dashboard(session, OpportunityFilter(), DEFAULT_SETTINGS, [])
        assert weighted[0]["weighted_revenue"] == weighted[0]["revenue_potential"] / 2
        async with db.sessionmaker() as session:
            assert await session.scalar(sa.select(sa.func.count()).select_from(FACT)) == 3
    finally:
        await db.dispose()


async def test_codes_of_a_rolled_back_transaction_are_not_remembered(pg_database: str) -> None:
    db = Database(pg_database)
    try:
        await upgrade(db, MIGRATIONS)
        async with db.sessionmaker() as session, session.begin():
            book = CodeBook.of(session)
            codes = await book.codes_for(session, {("product", "Neu")})
            await session.rollback()
        assert ("product", "Neu") not in book.codes
        async with db.unit_of_work() as session:
            again = await book.codes_for(session, {("product", "Neu")})
        async with db.sessionmaker() as session:
            stored = await session.scalar(
                sa.select(CODE.c.code).where(CODE.c.field == "product", CODE.c.value == "Neu")
            )
            assert stored == again[("product", "Neu")]
            assert await book.decode(session, [stored]) == {stored: "Neu"}
        assert codes  # a code was handed out inside the transaction that rolled back
    finally:
        await db.dispose()


async def test_the_totals_answer_as_the_facts_do_through_every_kind_of_write(
    pg_database: str,
) -> None:
    """Inserts, updates, deletes (cascading from the opportunity), a new revenue-group
    list: the dashboard from the totals (crm_campaigns.dashboard.rollup) equals the one from the
    facts, before and after the delta is folded, and folding leaves no empty keys."""
    rnd = random.Random(3)
    db = Database(pg_database)
    compactor = Compactor(db, seconds=3600)
    statuses = DEFAULT_SETTINGS.opportunity_statuses
    products = DEFAULT_SETTINGS.products
    campaigns = [str(uuid.uuid4()) for _ in range(3)]
    assignees = [str(uuid.uuid4()) for _ in range(3)] + [None]

    def random_values() -> dict[str, object]:
        return {
            "crm_status": rnd.choice(statuses),
            "revenue_cents": rnd.choice([0, 5_000_00, 20_000_00, 100_000_00, 500_000_00]),
            "closing_probability": rnd.randint(0, 100),
            "assignee_id": rnd.choice(assignees),
            "company_size": rnd.choice(["1-9", "250+", None]),
            "company_group": rnd.choice(["Handel", "Industrie", None]),
            "products": rnd.sample(products, rnd.randint(0, 2)),
            "campaign_ids": rnd.sample(campaigns, rnd.randint(0, 2)),
        }

    async def check(settings: CrmSettingsData = DEFAULT_SETTINGS) -> None:
        questions: list[tuple[OpportunityFilter, list[str]]] = [
            (OpportunityFilter(), []),
            (OpportunityFilter(), ["crm_status"]),
            (OpportunityFilter(), ["company_group", "revenue_group", "assignee"]),
            (OpportunityFilter(revenue_group=["groß", "mittel"]), ["product", "crm_status"]),
            (OpportunityFilter(company_size=["250+"]), ["campaign", "company_size"]),
            (OpportunityFilter(crm_status=[statuses[0]]), ["assignee", "product"]),
        ]
        async with db.sessionmaker() as session:
            for flt, group_by in questions:
                plan = await dashboard_plan(session, flt, settings, group_by)
                assert "opportunity_rollup" in str(plan.statement), group_by
                totals = await run_dashboard(session, flt, settings, group_by)
                facts = await run_dashboard(session, flt, settings, group_by, totals=False)
                assert totals == facts, (flt, group_by)

    try:
        await upgrade(db, MIGRATIONS)
        ids: list[str] = []
        for _ in range(4):  # inserts
            rows = [{**opportunity("x", 0, []), **random_values()} for _ in range(25)]
            async with db.unit_of_work() as session:
                await session.execute(sa.insert(OPP), rows)
                await sync_facts(session, [r["id"] for r in rows])
            ids += [str(r["id"]) for r in rows]
        await check()
        for _ in range(5):  # updates, some of them changing nothing the totals keep
            changed = rnd.sample(ids, 20)
            async with db.unit_of_work() as session:
                for ident in changed:
                    values = random_values() if rnd.random() < 0.8 else {"expected_users": 7}
                    await session.execute(sa.update(OPP).where(OPP.c.id == ident).values(values))
                await sync_facts(session, changed)
        await check()
        gone = rnd.sample(ids, 30)  # the facts go with their opportunity (cascade)
        async with db.unit_of_work() as session:
            await session.execute(sa.delete(OPP).where(OPP.c.id.in_(gone)))
        await check()
        assert await compactor.once() > 0
        await check()
        regrouped = DEFAULT_SETTINGS.model_copy(
            update={"revenue_groups": DEFAULT_SETTINGS.revenue_groups[1:]}
        )
        async with db.unit_of_work() as session:
            await regroup_revenue(session, regrouped)
        await check(regrouped)
        await compactor.once()
        await check(regrouped)
        async with db.sessionmaker() as session:
            assert await session.scalar(sa.select(sa.func.count()).select_from(DELTA)) == 0
            assert await session.scalar(sa.select(sa.func.min(ROLLUP.c.n))) > 0
            assert await session.scalar(
                sa.select(sa.func.sum(ROLLUP.c.n)).where(ROLLUP.c.axis == 0)
            ) == len(ids) - len(gone)
    finally:
        await db.dispose()


async def test_writers_of_the_same_totals_do_not_wait_for_each_other(pg_database: str) -> None:
    """Two open transactions write facts that add to the same key: the second commits
    while the first is still open (the trigger appends to the delta, it locks no total)."""
    db = Database(pg_database)
    try:
        await upgrade(db, MIGRATIONS)
        first, second, earlier = (opportunity("Verhandlung", c, []) for c in (100_00, 200_00, 5))
        for row in (first, second):
            row["contact_id"] = earlier["contact_id"]
        async with db.unit_of_work() as session:
            await session.execute(sa.insert(OPP), [first, second, earlier])
            # the codes exist once committed (a new code is a unique row: the second
            # writer of the same new value does wait for the first)
            await sync_facts(session, [str(earlier["id"])])
        async with db.unit_of_work() as held:
            await sync_facts(held, [str(first["id"])])
            async with db.unit_of_work() as other:
                await asyncio.wait_for(sync_facts(other, [str(second["id"])]), timeout=5)
        async with db.sessionmaker() as session:
            groups = await run_dashboard(
                session, OpportunityFilter(), DEFAULT_SETTINGS, ["crm_status"]
            )
        assert [(g["count"], str(g["revenue_potential"])) for g in groups] == [(3, "300.05")]
    finally:
        await db.dispose()
