"""Queries of the local contact copy. Add and flush, never commit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crm_campaigns.models import DELETED, ContactCopy
from crm_shared.copies import keep_newest
from crm_shared.db import table_of


class ContactCopyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, contact_id: str, *, fresh: bool = False) -> ContactCopy | None:
        """``fresh``: read again even if the session holds it (after :meth:`keep_newest`)."""
        return await self._session.get(ContactCopy, contact_id, populate_existing=fresh)

    async def many(self, ids: set[str]) -> dict[str, ContactCopy]:
        if not ids:
            return {}
        rows = await self._session.scalars(
            select(ContactCopy).where(col(ContactCopy.contact_id).in_(ids))
        )
        return {row.contact_id: row for row in rows}

    async def keep_newest(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """One upsert for a run of snapshots: the newest version wins, a tombstone stays."""
        await keep_newest(self._session, table_of(ContactCopy), rows, tombstone=("status", DELETED))

    def add(self, copy: ContactCopy) -> None:
        self._session.add(copy)

    async def flush(self) -> None:
        await self._session.flush()
