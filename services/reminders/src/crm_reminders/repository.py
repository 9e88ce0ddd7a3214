"""Queries of the reminders service: add and flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, or_, select

from crm_reminders.models import OPEN, Reminder, ReminderRule, StaffCopy


class ReminderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, reminder_id: str) -> Reminder | None:
        return await self.session.get(Reminder, reminder_id)

    async def open_for_procedure(self, procedure_id: str) -> Sequence[Reminder]:
        query = select(Reminder).where(
            col(Reminder.procedure_id) == procedure_id, col(Reminder.state) == OPEN
        )
        return (await self.session.scalars(query)).all()

    async def open_for_interaction(self, interaction_id: str) -> Sequence[Reminder]:
        query = select(Reminder).where(
            col(Reminder.interaction_id) == interaction_id, col(Reminder.state) == OPEN
        )
        return (await self.session.scalars(query)).all()

    async def for_contact(self, contact_id: str) -> Sequence[Reminder]:
        query = select(Reminder).where(col(Reminder.contact_id) == contact_id)
        return (await self.session.scalars(query)).all()

    async def for_update(self, ids: Sequence[str], *, lock: bool) -> dict[str, Reminder]:
        query = select(Reminder).where(col(Reminder.id).in_(ids))
        if lock:
            query = query.with_for_update()
        return {row.id: row for row in (await self.session.scalars(query)).all()}

    async def open_page(
        self, staff_id: str, *, after: tuple[datetime, str] | None, limit: int
    ) -> Sequence[Reminder]:
        query = select(Reminder).where(
            col(Reminder.staff_id) == staff_id, col(Reminder.state) == OPEN
        )
        if after is not None:
            due, rid = after
            if self.session.get_bind().dialect.name == "sqlite":  # stored as naive UTC
                due = due.astimezone(UTC).replace(tzinfo=None)
            query = query.where(
                or_(
                    col(Reminder.due_at) > due,
                    (col(Reminder.due_at) == due) & (col(Reminder.id) > rid),
                )
            )
        query = query.order_by(col(Reminder.due_at), col(Reminder.id)).limit(limit)
        return (await self.session.scalars(query)).all()

    async def pending(
        self, *, until: datetime | None, after_id: str | None, limit: int
    ) -> Sequence[Reminder]:
        """Open reminders with a stage still to fire (for the schedule rebuild), by id."""
        query = select(Reminder).where(col(Reminder.next_fire_at).is_not(None))
        if until is not None:
            query = query.where(col(Reminder.next_fire_at) <= until)
        if after_id is not None:
            query = query.where(col(Reminder.id) > after_id)
        query = query.order_by(col(Reminder.id)).limit(limit)
        return (await self.session.scalars(query)).all()

    async def staff(self, staff_ids: set[str]) -> dict[str, StaffCopy]:
        if not staff_ids:
            return {}
        rows = await self.session.scalars(
            select(StaffCopy).where(col(StaffCopy.staff_id).in_(staff_ids))
        )
        return {row.staff_id: row for row in rows}

    async def rule(self) -> ReminderRule:
        rule = await self.session.get(ReminderRule, 1)
        return rule if rule is not None else ReminderRule()
