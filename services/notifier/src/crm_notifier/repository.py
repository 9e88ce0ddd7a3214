"""Queries of the notifier: add and flush, never commit."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col, or_, select

from crm_notifier.models import CompetenceCopy, ContactCopy, Notification, SentEmail, StaffCopy
from crm_shared.copies import keep_newest
from crm_shared.db import table_of


class NotificationRepository:
    """The staff members' notifications."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, notification_id: str) -> Notification | None:
        return await self._session.get(Notification, notification_id)

    def add(self, notification: Notification) -> None:
        self._session.add(notification)

    async def flush(self) -> None:
        await self._session.flush()

    async def page(
        self,
        staff_id: str,
        *,
        unread_only: bool,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> Sequence[Notification]:
        """Newest first, keyset by (created_at, id)."""
        query = select(Notification).where(col(Notification.staff_id) == staff_id)
        if unread_only:
            query = query.where(col(Notification.read_at).is_(None))
        if before is not None:
            at, nid = before
            query = query.where(
                or_(
                    col(Notification.created_at) < at,
                    (col(Notification.created_at) == at) & (col(Notification.id) < nid),
                )
            )
        query = query.order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
        return (await self._session.scalars(query.limit(limit))).all()

    async def unread(self, staff_id: str) -> int:
        count = await self._session.scalar(
            select(sa.func.count())
            .select_from(Notification)
            .where(col(Notification.staff_id) == staff_id, col(Notification.read_at).is_(None))
        )
        return int(count or 0)

    async def mark_all_read(self, staff_id: str, at: datetime) -> int:
        result = await self._session.execute(
            sa.update(Notification)
            .where(col(Notification.staff_id) == staff_id, col(Notification.read_at).is_(None))
            .values(read_at=at)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def delete_about(self, contact_id: str) -> None:
        await self._session.execute(
            sa.delete(Notification).where(col(Notification.contact_id) == contact_id)
        )

    async def about(self, contact_id: str) -> Sequence[Notification]:
        """The notifications naming a contact, newest first (any staff member's)."""
        query = (
            select(Notification)
            .where(col(Notification.contact_id) == contact_id)
            .order_by(col(Notification.created_at).desc(), col(Notification.id))
        )
        return (await self._session.scalars(query)).all()


class SentEmailRepository:
    """The mails sent to or about each contact."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get_many(self, message_ids: Collection[str]) -> dict[str, SentEmail]:
        if not message_ids:
            return {}
        query = select(SentEmail).where(col(SentEmail.message_id).in_(list(message_ids)))
        return {row.message_id: row for row in (await self._session.scalars(query)).all()}

    def add(self, row: SentEmail) -> None:
        self._session.add(row)

    async def flush(self) -> None:
        await self._session.flush()

    async def of_contact(self, contact_id: str) -> Sequence[SentEmail]:
        query = (
            select(SentEmail)
            .where(col(SentEmail.contact_id) == contact_id)
            .order_by(col(SentEmail.at).desc(), col(SentEmail.message_id))
        )
        return (await self._session.scalars(query)).all()

    async def delete_of(self, contact_id: str) -> None:
        await self._session.execute(
            sa.delete(SentEmail).where(col(SentEmail.contact_id) == contact_id)
        )


class CopyRepository:
    """The copies that say who gets a notification: contacts' assignments, competences'
    members, staff members' languages and whether they are active."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, copy: SQLModel) -> None:
        self._session.add(copy)

    async def delete(self, copy: SQLModel) -> None:
        await self._session.delete(copy)

    async def flush(self) -> None:
        await self._session.flush()

    async def contact(self, contact_id: str) -> ContactCopy | None:
        return await self._session.get(ContactCopy, contact_id)

    async def competence(self, competence_id: str) -> CompetenceCopy | None:
        return await self._session.get(CompetenceCopy, competence_id)

    async def staff(self, staff_id: str) -> StaffCopy | None:
        return await self._session.get(StaffCopy, staff_id)

    async def languages(self, staff_ids: Sequence[str]) -> dict[str, str]:
        rows = await self._session.scalars(
            select(StaffCopy).where(col(StaffCopy.staff_id).in_(list(staff_ids)))
        )
        return {row.staff_id: row.language for row in rows}

    async def active_staff_ids(self) -> list[str]:
        rows = await self._session.scalars(
            select(StaffCopy.staff_id).where(col(StaffCopy.active).is_(True))
        )
        return list(rows)

    async def keep_newest_contacts(self, rows: Sequence[dict[str, Any]]) -> None:
        """Upsert contact copies; a row replaces one of a lower or equal version."""
        await keep_newest(self._session, table_of(ContactCopy), rows, replace_equal=True)
