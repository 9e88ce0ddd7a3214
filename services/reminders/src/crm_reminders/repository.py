"""Queries of the reminders service: add and flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col, or_, select

from crm_reminders.models import OPEN, ErasedContact, Reminder, ReminderRule, StaffCopy


class ReminderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: SQLModel) -> None:
        self.session.add(row)

    async def flush(self) -> None:
        await self.session.flush()

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

    async def is_erased(self, contact_id: str) -> bool:
        return await self.session.get(ErasedContact, contact_id) is not None

    async def mark_erased(self, contact_id: str) -> None:
        if not await self.is_erased(contact_id):
            self.session.add(ErasedContact(contact_id=contact_id))
            await self.session.flush()

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

    async def staff_copy(self, staff_id: str) -> StaffCopy | None:
        return await self.session.get(StaffCopy, staff_id)

    async def staff(self, staff_ids: set[str]) -> dict[str, StaffCopy]:
        if not staff_ids:
            return {}
        rows = await self.session.scalars(
            select(StaffCopy).where(col(StaffCopy.staff_id).in_(staff_ids))
        )
        return {row.staff_id: row for row in rows}

    async def stored_rule(self) -> ReminderRule | None:
        return await self.session.get(ReminderRule, 1)

    async def rule(self) -> ReminderRule:
        """The admin's rule, or the defaults while none is stored."""
        rule = await self.stored_rule()
        return rule if rule is not None else ReminderRule()
