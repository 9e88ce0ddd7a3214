"""The dashboard's fact table on a real PostgreSQL: backfill at start and the code book."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from crm_campaigns.crm_schemas import DEFAULT_SETTINGS
from crm_campaigns.facts import CODE, FACT, OPP, CodeBook, fill_missing_facts
from crm_campaigns.main import MIGRATIONS
from crm_campaigns.queries import OpportunityFilter, run_dashboard
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
