"""A bulk job's batch writes the same rows as the one-by-one path, on both databases.

``HistoryService.write_job_entries`` builds the events from one template per batch and
inserts with one statement per table on PostgreSQL; ``write_entries`` builds a pydantic
event per row. Both must give the same entries, outbox rows and timeline items.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa

from crm_history.main import MIGRATIONS
from crm_history.models import HistoryEntry, TimelineItem
from crm_history.repository import HistoryRepository
from crm_history.schemas import EntryFields
from crm_history.service import HistoryService, job_entry_id
from crm_shared import migrations
from crm_shared.db import Database
from crm_shared.events import StaffRef, parse_cloudevent, utcnow
from crm_shared.outbox import Outbox, OutboxMessage

FIELDS = EntryFields.model_validate(
    {"text": 'Katalog „2026“ mit "Zitat"\nzweite Zeile', "field5": True, "field1": "Prospekt"}
)
STAFF = StaffRef(staff_id=str(uuid.uuid4()), name="Bärbel Bench", initials="BB")


async def _write(url: str, bulk: bool, job_id: str, contact_ids: list[str], now: Any) -> Any:
    db = Database(url)
    try:
        await migrations.upgrade(db, MIGRATIONS)
        async with db.unit_of_work() as session:
            service = HistoryService(session, Outbox("/crm/history"))
            if bulk:
                await service.write_job_entries(
                    job_id=job_id, contact_ids=contact_ids, fields=FIELDS, staff=STAFF, now=now
                )
            else:
                await service.write_entries(
                    [
                        service.entry_row(
                            entry_id=job_entry_id(job_id, contact_id),
                            contact_id=contact_id,
                            fields=FIELDS,
                            staff=STAFF,
                            job_id=job_id,
                            now=now,
                        )
                        for contact_id in contact_ids
                    ]
                )
        async with db.sessionmaker() as session:

            async def rows(table: Any, order: Any) -> list[dict[str, Any]]:
                result = await session.execute(sa.select(table).order_by(order))
                return [dict(row._mapping) for row in result]

            entries = await rows(HistoryEntry.__table__, sa.column("id"))
            outbox = await rows(OutboxMessage.__table__, sa.column("seq"))
            timeline = await rows(TimelineItem.__table__, sa.column("id"))
            # a redelivered item is skipped, not an error (one statement on PostgreSQL)
            await HistoryRepository(session).insert_ignoring_duplicates(TimelineItem, timeline[:3])
            assert len(await rows(TimelineItem.__table__, sa.column("id"))) == len(timeline)
        return entries, outbox, timeline
    finally:
        await db.dispose()


async def test_job_batch_rows_equal_the_one_by_one_rows(
    db_urls: Callable[[], Awaitable[str]],
) -> None:
    job_id, now = str(uuid.uuid4()), utcnow()
    contact_ids = [str(uuid.uuid4()) for _ in range(250)]

    entries, outbox, timeline = await _write(await db_urls(), True, job_id, contact_ids, now)
    want_entries, want_outbox, want_timeline = await _write(
        await db_urls(), False, job_id, contact_ids, now
    )

    assert len(entries) == len(outbox) == len(timeline) == len(contact_ids)
    assert entries == want_entries
    assert timeline == want_timeline
    keep = ("event_id", "topic", "key", "body")
    assert [{k: r[k] for k in keep} for r in outbox] == [
        {k: r[k] for k in keep} for r in want_outbox
    ]
    assert [r["key"] for r in outbox] == contact_ids, "outbox order is the batch order"
    event = parse_cloudevent(outbox[0]["body"].encode())
    assert event.subject == contact_ids[0]
    assert event.payload().model_dump()["text"] == FIELDS.text
