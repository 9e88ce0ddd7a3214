"""The small shared mechanisms every service uses: keyset cursors, the moment column,
actions after commit, state kept for one transaction."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from crm_shared import cursor
from crm_shared.after_commit import after_commit, transaction_state
from crm_shared.db import Database, UtcDateTime
from crm_shared.errors import Unprocessable


def test_a_keyset_cursor_round_trips_moments_texts_and_numbers() -> None:
    at = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
    assert cursor.keyset(cursor.encode(at, "n-1"), datetime, str) == (at, "n-1")
    assert cursor.keyset(cursor.encode("Müller", "c-9"), str, str) == ("Müller", "c-9")
    assert cursor.keyset(cursor.encode(40), int) == (40,)
    assert cursor.keyset(None, int) is None
    assert cursor.keyset("", str, str) is None


@pytest.mark.parametrize(
    "bad",
    [
        "%%%",  # not base64
        cursor.encode("x"),  # one part where two are wanted
        cursor.encode("2026-12-06T09:30:00", "n"),  # a moment without its offset
        cursor.encode("yesterday", "n"),  # not a moment
        cursor.encode(datetime(2026, 1, 1, tzinfo=UTC), 7),  # a number where a text goes
    ],
)
def test_a_cursor_of_another_shape_is_a_422_naming_cursor(bad: str) -> None:
    with pytest.raises(Unprocessable) as caught:
        cursor.keyset(bad, datetime, str)
    assert caught.value.errors == [{"field": "cursor", "message": "invalid cursor"}]


def test_a_whole_number_cursor_refuses_text_and_booleans() -> None:
    for bad in (cursor.encode("4"), cursor.encode(True)):
        with pytest.raises(Unprocessable):
            cursor.keyset(bad, int)


async def test_the_moment_column_reads_back_aware_utc_on_sqlite() -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    table = sa.Table("t", sa.MetaData(), sa.Column("at", UtcDateTime()))
    berlin = timezone(timedelta(hours=1))
    async with engine.begin() as connection:
        await connection.run_sync(table.metadata.create_all)
        await connection.execute(
            table.insert(),
            [{"at": datetime(2026, 12, 6, 10, 0, tzinfo=berlin)}, {"at": datetime(2026, 1, 1)}],
        )
        rows = (await connection.execute(sa.select(table.c.at))).scalars().all()
    await engine.dispose()
    assert rows == [datetime(2026, 12, 6, 9, 0, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)]
    assert all(row.tzinfo is UTC for row in rows)


async def test_after_commit_runs_after_a_commit_and_never_after_a_rollback() -> None:
    db = Database("sqlite+aiosqlite://")
    ran: list[str] = []

    async def note(what: str) -> None:
        ran.append(what)

    async with db.unit_of_work() as session:
        after_commit(session, lambda: note("committed"), repaired_by="nothing")
        assert ran == []  # not before the commit
    with pytest.raises(RuntimeError):
        async with db.unit_of_work() as session:
            after_commit(session, lambda: note("rolled back"), repaired_by="nothing")
            raise RuntimeError("the unit of work fails")
    async with db.unit_of_work() as session:
        pass  # a later transaction of its own runs nothing left over
    for _ in range(10):
        await asyncio.sleep(0)
    await db.dispose()
    assert ran == ["committed"]


async def test_transaction_state_lasts_until_its_transaction_commits_or_rolls_back() -> None:
    db = Database("sqlite+aiosqlite://")
    async with db.unit_of_work() as session:
        created = transaction_state(session, "created", set)
        created.add("a")
        assert transaction_state(session, "created", set) == {"a"}  # the same, all along
    assert "created" not in session.info  # committed: forgotten
    with pytest.raises(RuntimeError):
        async with db.unit_of_work() as session:
            transaction_state(session, "created", set).add("b")
            raise RuntimeError("the unit of work fails")
    assert "created" not in session.info  # rolled back: forgotten
    async with db.sessionmaker() as session:
        async with session.begin():
            transaction_state(session, "created", dict)["c"] = 1
        async with session.begin():  # the next transaction of the same session starts anew
            assert transaction_state(session, "created", dict) == {}
        await session.rollback()
        assert "created" not in session.info
    await db.dispose()


async def test_the_outbox_bulk_api_queues_events_in_order_as_emit_would_write_them() -> None:
    from crm_shared.db import OUTBOX_DIRTY, table_of
    from crm_shared.events import ContactDeleted, make_event
    from crm_shared.outbox import Outbox, OutboxMessage, serialize, serialize_checked_data

    db = Database("sqlite+aiosqlite://")
    async with db.engine.begin() as connection:
        await connection.run_sync(
            table_of(OutboxMessage).metadata.create_all, [table_of(OutboxMessage)]
        )
    outbox = Outbox("/crm/test")
    at = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
    payloads = [ContactDeleted(contact_id=f"c-{i}", version=i + 1) for i in range(3)]
    checked = serialize_checked_data(
        ContactDeleted,
        payloads[0].model_dump(mode="json"),
        subject="c-0",
        source="/crm/test",
        event_id="e-0",
        time=at,
    )
    assert checked == serialize(payloads[0], source="/crm/test", event_id="e-0", time=at)
    assert (
        checked.body
        == make_event(payloads[0], source="/crm/test", event_id="e-0", time=at).to_bytes().decode()
    )
    async with db.unit_of_work() as session:
        await outbox.emit_many(session, payloads)
        assert session.info[OUTBOX_DIRTY] is True  # the relay is woken after the commit
    async with db.sessionmaker() as session:
        rows = (await session.execute(sa.select(table_of(OutboxMessage)))).mappings().all()
    await db.dispose()
    assert [row["key"] for row in sorted(rows, key=lambda r: r["seq"])] == ["c-0", "c-1", "c-2"]
    assert {row["topic"] for row in rows} == {"crm.contacts"}
