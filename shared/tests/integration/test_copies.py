"""``keep_newest``: a run of snapshots in one upsert keeps what one by one would keep."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from crm_shared.copies import keep_newest, newest_rows
from crm_shared.db import Database

_meta = sa.MetaData()
COPY = sa.Table(
    "test_copy",
    _meta,
    sa.Column("contact_id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)


def row(contact_id: str, version: int, name: str, status: str = "inbox") -> dict[str, Any]:
    return {"contact_id": contact_id, "name": name, "status": status, "version": version}


def one_by_one(
    stored: dict[str, dict[str, Any]], rows: list[dict[str, Any]], *, replace_equal: bool
) -> dict[str, dict[str, Any]]:
    """The rule as the services applied it event by event."""
    result = dict(stored)
    for new in rows:
        old = result.get(new["contact_id"])
        if old is not None and (
            old["status"] == "deleted"
            or old["version"] > new["version"]
            or (old["version"] == new["version"] and not replace_equal)
        ):
            continue
        result[new["contact_id"]] = new
    return result


@pytest.fixture
async def copies(database: Database) -> Database:
    async with database.engine.begin() as conn:
        await conn.run_sync(_meta.create_all)
    return database


async def stored(db: Database) -> dict[str, dict[str, Any]]:
    async with db.sessionmaker() as session:
        result = await session.execute(sa.select(COPY))
        return {r.contact_id: dict(r._mapping) for r in result}


@pytest.mark.parametrize("replace_equal", [False, True])
async def test_a_run_keeps_what_one_by_one_keeps(copies: Database, replace_equal: bool) -> None:
    before = [
        row("a", 3, "Anna"),
        row("b", 2, "Bernd"),
        row("t", 1, "", status="deleted"),  # a tombstone
    ]
    async with copies.unit_of_work() as session:
        await session.execute(COPY.insert(), before)
    run = [
        row("a", 2, "Anna alt"),  # older than stored: kept out
        row("a", 3, "Anna gleich"),  # same version as stored
        row("b", 4, "Bernd neu"),
        row("b", 4, "Bernd auch"),  # same version inside the run
        row("b", 3, "Bernd alt"),  # late inside the run
        row("t", 9, "Tote Hose"),  # the tombstone stays
        row("n", 1, "Neu"),
        row("n", 2, "Neu zwei"),
    ]
    expected = one_by_one({r["contact_id"]: r for r in before}, run, replace_equal=replace_equal)
    async with copies.unit_of_work() as session:
        await keep_newest(
            session, COPY, run, replace_equal=replace_equal, tombstone=("status", "deleted")
        )
    assert await stored(copies) == expected
    assert expected["b"]["name"] == ("Bernd auch" if replace_equal else "Bernd neu")
    assert expected["a"]["name"] == ("Anna gleich" if replace_equal else "Anna")


def test_newest_rows_keeps_one_row_per_key_in_first_seen_order() -> None:
    rows = [row("x", 1, "x1"), row("y", 5, "y5"), row("x", 2, "x2"), row("y", 5, "y5b")]
    assert newest_rows(rows, key="contact_id", version="version", replace_equal=False) == [
        row("x", 2, "x2"),
        row("y", 5, "y5"),
    ]
    assert newest_rows(rows, key="contact_id", version="version", replace_equal=True)[1] == row(
        "y", 5, "y5b"
    )
    assert newest_rows([], key="contact_id", version="version", replace_equal=False) == []
