"""Queries of the history service: add and flush, never commit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col, select

from crm_history.models import (
    AuditEntry,
    ContactCopy,
    HistoryEntry,
    HistorySettings,
    Job,
    JobSelection,
    TimelineItem,
)
from crm_shared.db import table_of, unnest_insert

DELETED = "deleted"
_CHUNK = 5000


def _columns(rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    return {name: [row[name] for row in rows] for name in rows[0]}


class HistoryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def insert_ignoring_duplicates(
        self, model: type[SQLModel], rows: Sequence[dict[str, Any]]
    ) -> None:
        """Insert rows; a row whose key exists already is skipped (replays, redelivery)."""
        if rows:
            await self.insert_columns(model, _columns(rows), ignore_duplicates=True)

    async def insert_many(self, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> None:
        """Insert rows (all with the same keys)."""
        if rows:
            await self.insert_columns(model, _columns(rows))

    async def insert_columns(
        self,
        model: type[SQLModel],
        columns: Mapping[str, Sequence[Any]],
        same: Mapping[str, Any] | None = None,
        *,
        ignore_duplicates: bool = False,
    ) -> None:
        """Insert rows given column by column: ``columns`` holds one list of values per
        column (all of the same length), ``same`` the values every row shares.

        On PostgreSQL this is one ``INSERT … SELECT FROM unnest(<one array per
        column>)`` with the shared values as plain parameters: an executemany sends and
        plans a statement per row, and a bulk job's batch of entries, outbox rows and
        timeline items was most of its database time. SQLite gets an executemany.
        """
        same = same or {}
        table = table_of(model)
        names = list(columns)
        if self._dialect != "postgresql":
            rows = [
                {**same, **dict(zip(names, values, strict=True))}
                for values in zip(*columns.values(), strict=True)
            ]
            stmt = sqlite.insert(table)
            if ignore_duplicates:
                stmt = stmt.on_conflict_do_nothing()
            if rows:
                await self.session.execute(stmt, rows)
            return
        pg_stmt = unnest_insert(table, tuple(names), tuple(same))
        if ignore_duplicates:
            pg_stmt = pg_stmt.on_conflict_do_nothing()
        await self.session.execute(
            pg_stmt, {**{name: list(values) for name, values in columns.items()}, **same}
        )

    async def settings(self) -> HistorySettings | None:
        return await self.session.get(HistorySettings, 1)

    # --- contacts and groups -----------------------------------------------------------

    async def contact(self, contact_id: str) -> ContactCopy | None:
        return await self.session.get(ContactCopy, contact_id)

    async def erased(self, ids: Sequence[str]) -> set[str]:
        """Those of ``ids`` whose contact was deleted (a tombstone copy)."""
        table = table_of(ContactCopy)
        found: set[str] = set()
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), _CHUNK):
            found.update(
                await self.session.scalars(
                    sa.select(table.c.contact_id).where(
                        self._among(table.c.contact_id, unique[start : start + _CHUNK]),
                        table.c.status == DELETED,
                    )
                )
            )
        return found

    async def contacts(self, ids: Sequence[str]) -> dict[str, ContactCopy]:
        found: dict[str, ContactCopy] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            rows = await self.session.scalars(
                select(ContactCopy).where(col(ContactCopy.contact_id).in_(chunk))
            )
            found.update({row.contact_id: row for row in rows})
        return found

    async def contact_rows(self, ids: Sequence[str]) -> dict[str, Any]:
        """Contact copies as plain rows (attribute access, no ORM identity map): for jobs."""
        table = table_of(ContactCopy)
        found: dict[str, Any] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            result = await self.session.execute(
                sa.select(table).where(self._among(table.c.contact_id, chunk))
            )
            found.update({row.contact_id: row for row in result})
        return found

    def _among(self, column: sa.ColumnElement[Any], values: Sequence[str]) -> Any:
        """``column IN values``; one array parameter on PostgreSQL (a job batch asks for
        1,000 contacts, which as single parameters cost more to compile than to run)."""
        if self._dialect == "postgresql":
            return column == sa.any_(
                sa.bindparam("among", list(values), type_=postgresql.ARRAY(column.type))
            )
        return column.in_(values)

    async def live_contact_ids(self, ids: Sequence[str]) -> set[str]:
        live: set[str] = set()
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            table = table_of(ContactCopy)
            rows = await self.session.scalars(
                sa.select(table.c.contact_id).where(
                    self._among(table.c.contact_id, chunk), table.c.status != DELETED
                )
            )
            live.update(rows)
        return live

    # --- entries -----------------------------------------------------------------------

    async def entry(self, entry_id: str) -> HistoryEntry | None:
        return await self.session.get(HistoryEntry, entry_id)

    async def entry_page(
        self, contact_id: str, *, offset: int, limit: int
    ) -> tuple[Sequence[HistoryEntry], int]:
        where = col(HistoryEntry.contact_id) == contact_id
        total = await self.session.scalar(
            select(sa.func.count()).select_from(HistoryEntry).where(where)
        )
        rows = await self.session.scalars(
            select(HistoryEntry)
            .where(where)
            .order_by(
                col(HistoryEntry.date).desc(), col(HistoryEntry.seq).desc(), col(HistoryEntry.id)
            )
            .offset(offset)
            .limit(limit)
        )
        return rows.all(), int(total or 0)

    async def entries_of(self, contact_id: str) -> Sequence[HistoryEntry]:
        """Every entry of a contact, newest first (the order of the pager)."""
        query = (
            select(HistoryEntry)
            .where(col(HistoryEntry.contact_id) == contact_id)
            .order_by(
                col(HistoryEntry.date).desc(), col(HistoryEntry.seq).desc(), col(HistoryEntry.id)
            )
        )
        return (await self.session.scalars(query)).all()

    # --- jobs --------------------------------------------------------------------------

    async def job(self, job_id: str, *, lock: bool = False) -> Job | None:
        query = select(Job).where(col(Job.id) == job_id)
        if lock and self._dialect == "postgresql":
            query = query.with_for_update()
        return (await self.session.scalars(query)).first()

    async def running_job_ids(self) -> list[str]:
        query = select(col(Job.id)).where(col(Job.state) == "running").order_by(col(Job.created_at))
        return list(await self.session.scalars(query))

    async def move_job(self, job_id: str, before: str, after: str) -> bool:
        """Set the job's state to ``after`` if it is still ``before`` (one conditional
        update, so a batch committing meanwhile is never overwritten); False if not."""
        result = await self.session.execute(
            sa.update(Job)
            .where(col(Job.id) == job_id, col(Job.state) == before)
            .values(state=after)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def selection(self, job_id: str) -> JobSelection | None:
        return await self.session.get(JobSelection, job_id)

    async def forget_selection(self, job_id: str) -> None:
        """A finished job's selection goes: it holds each contact's name and address as
        of the job's start, needed only while the job runs (a resumed job reads it), and
        must not outlive a contact's permanent delete."""
        await self.session.execute(
            sa.delete(JobSelection).where(col(JobSelection.job_id) == job_id)
        )

    # --- timeline ----------------------------------------------------------------------

    async def timeline_page(
        self, contact_id: str, *, after: tuple[datetime, str] | None, limit: int
    ) -> Sequence[TimelineItem]:
        query = select(TimelineItem).where(col(TimelineItem.contact_id) == contact_id)
        if after is not None:
            at, item_id = after
            query = query.where(
                sa.or_(
                    col(TimelineItem.at) < at,
                    sa.and_(col(TimelineItem.at) == at, col(TimelineItem.id) < item_id),
                )
            )
        query = query.order_by(col(TimelineItem.at).desc(), col(TimelineItem.id).desc())
        return (await self.session.scalars(query.limit(limit))).all()

    async def timeline_of(self, contact_id: str) -> Sequence[TimelineItem]:
        """A contact's whole timeline, newest first."""
        query = (
            select(TimelineItem)
            .where(col(TimelineItem.contact_id) == contact_id)
            .order_by(col(TimelineItem.at).desc(), col(TimelineItem.id).desc())
        )
        return (await self.session.scalars(query)).all()

    async def clear_timeline(self) -> None:
        await self.session.execute(sa.delete(TimelineItem))

    # --- audit trail -------------------------------------------------------------------

    async def audit_page(
        self, contact_id: str | None, *, after: tuple[datetime, str] | None, limit: int
    ) -> Sequence[AuditEntry]:
        """Audit rows newest first by (time, id), of one contact or of all."""
        query = select(AuditEntry)
        if contact_id is not None:
            query = query.where(col(AuditEntry.contact_id) == contact_id)
        if after is not None:
            at, entry_id = after
            query = query.where(
                sa.or_(
                    col(AuditEntry.at) < at,
                    sa.and_(col(AuditEntry.at) == at, col(AuditEntry.id) < entry_id),
                )
            )
        query = query.order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
        return (await self.session.scalars(query.limit(limit))).all()

    # --- GDPR --------------------------------------------------------------------------

    async def erase_contact(self, contact_id: str) -> None:
        for model, column in (
            (HistoryEntry, col(HistoryEntry.contact_id)),
            (TimelineItem, col(TimelineItem.contact_id)),
        ):
            await self.session.execute(sa.delete(model).where(column == contact_id))
