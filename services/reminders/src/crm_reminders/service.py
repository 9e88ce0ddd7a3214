"""Business rules of the reminders service. Adds outbox events; never commits.

- A planned procedure with the reminder flag gets one reminder for its responsible staff
  member (else its creator), due at its start; an interaction's follow-up date one due
  at 08:00 Europe/Berlin that day, for its recorder.
- Each reminder fires twice, once per stage: "email" ``email_lead_hours`` before the due
  time (at once when that is already past), "due" at the due time.
- Rescheduling clears the reminder and creates a new one (times never change in place);
  completion clears it unless the admin switched that rule off (seed 004).
- The Redis schedule is rebuilt from the database (:func:`rebuild_schedule`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from crm_reminders.models import CLEARED, OPEN, Reminder, ReminderRule, StaffCopy
from crm_reminders.repository import ReminderRepository
from crm_reminders.schedule import Claim, ReminderSchedule, Stage
from crm_reminders.schemas import (
    ReminderPage,
    ReminderPublic,
    ReminderRecord,
    ReminderRules,
    RemindersPersonalData,
)
from crm_shared.after_commit import after_commit
from crm_shared.cursor import encode, keyset
from crm_shared.db import Database
from crm_shared.errors import NotFound, Problem
from crm_shared.events import (
    InteractionLogged,
    InteractionUpdated,
    ProcedureCompleted,
    ProcedureData,
    ReminderCleared,
    ReminderCreated,
    ReminderDue,
    StaffData,
    derived_event_id,
    utcnow,
)
from crm_shared.outbox import Outbox
from crm_shared.timezones import BERLIN

FOLLOW_UP_TIME = time(8, 0)


def follow_up_due(day: date) -> datetime:
    """A follow-up date is due at 08:00 Europe/Berlin that day."""
    return datetime.combine(day, FOLLOW_UP_TIME, tzinfo=BERLIN).astimezone(UTC)


def stages_of(reminder: Reminder) -> list[tuple[Stage, datetime]]:
    """The stages still to fire, with their times."""
    pending: list[tuple[Stage, datetime]] = []
    if reminder.state != OPEN:
        return pending
    if reminder.email_at is not None and reminder.email_fired_at is None:
        pending.append(("email", reminder.email_at))
    if reminder.due_fired_at is None:
        pending.append(("due", reminder.due_at))
    return pending


def next_fire(reminder: Reminder) -> datetime | None:
    return min((at for _, at in stages_of(reminder)), default=None)


async def rebuild_schedule(
    db: Database, schedule: ReminderSchedule, *, horizon: timedelta | None = None
) -> int:
    """Add every stage still to fire (due within ``horizon``, or all) to the schedule, a
    page of reminders per short session; returns how many stages it added.

    What the service runs at start and its sweep, and ``crm reminders rebuild`` (after
    Redis lost its data)."""
    added = 0
    after: str | None = None
    until = utcnow() + horizon if horizon is not None else None
    while True:
        async with db.sessionmaker() as session:
            rows = await ReminderRepository(session).pending(
                until=until, after_id=after, limit=2000
            )
        if not rows:
            return added
        entries = [(row.id, stage, at) for row in rows for stage, at in stages_of(row)]
        # existing entries keep their place; a stage fired a moment ago is skipped at claim
        await schedule.add(entries, only_new=True)
        added += len(entries)
        after = rows[-1].id


class ReminderService:
    def __init__(self, session: AsyncSession, outbox: Outbox, schedule: ReminderSchedule) -> None:
        self._session = session
        self._repo = ReminderRepository(session)
        self._outbox = outbox
        self._schedule = schedule

    async def page(self, staff_id: str, *, cursor: str | None, limit: int) -> ReminderPage:
        """A staff member's open reminders, soonest first (keyset cursor)."""
        rows = await self._repo.open_page(
            staff_id, after=keyset(cursor, datetime, str), limit=limit + 1
        )
        last = rows[limit - 1] if len(rows) > limit else None
        return ReminderPage(
            items=[ReminderPublic.of(row) for row in rows[:limit]],
            next_cursor=encode(last.due_at, last.id) if last else None,
        )

    async def personal_data(self, contact_id: str) -> RemindersPersonalData:
        """Every reminder about a contact, open or cleared, soonest due first (GDPR Art.
        15/20; after the contact's delete only cleared ones without subject remain)."""
        rows = sorted(await self._repo.for_contact(contact_id), key=lambda r: (r.due_at, r.id))
        return RemindersPersonalData(reminders=[ReminderRecord.of(row) for row in rows])

    # --- reminders ----------------------------------------------------------------------

    async def create(
        self,
        *,
        staff_id: str,
        contact_id: str,
        subject: str,
        due_at: datetime,
        procedure_id: str | None = None,
        interaction_id: str | None = None,
        cause_event_id: str,
    ) -> Reminder | None:
        """A new reminder; none for a contact deleted for good (None)."""
        if await self._repo.is_erased(contact_id):
            return None
        rule = await self._repo.rule()
        reminder = Reminder(
            # derived from the cause, so a replayed event cannot create a second reminder
            id=derived_event_id("reminder", cause_event_id),
            staff_id=staff_id,
            contact_id=contact_id,
            procedure_id=procedure_id,
            interaction_id=interaction_id,
            subject=subject,
            due_at=due_at,
            email_at=due_at - timedelta(hours=rule.email_lead_hours),
        )
        reminder.next_fire_at = next_fire(reminder)
        self._repo.add(reminder)
        await self._repo.flush()
        self._outbox.emit(
            self._session,
            ReminderCreated(
                reminder_id=reminder.id,
                contact_id=contact_id,
                staff_id=staff_id,
                due_at=due_at,
                subject=subject,
                procedure_id=procedure_id,
                interaction_id=interaction_id,
                email_at=reminder.email_at,
            ),
        )
        entries = [(reminder.id, stage, at) for stage, at in stages_of(reminder)]
        after_commit(
            self._session, lambda: self._schedule.add(entries), repaired_by="the schedule sweep"
        )
        return reminder

    async def clear(self, reminders: Sequence[Reminder], reason: str) -> None:
        cleared = []
        for reminder in reminders:
            if reminder.state != OPEN:
                continue
            reminder.state = CLEARED
            reminder.cleared_reason = reason
            reminder.cleared_at = utcnow()
            reminder.next_fire_at = None
            cleared.append(reminder.id)
            self._outbox.emit(
                self._session,
                ReminderCleared(
                    reminder_id=reminder.id,
                    contact_id=reminder.contact_id,
                    staff_id=reminder.staff_id,
                    reason=reason,
                ),
            )
        if cleared:
            await self._repo.flush()
            after_commit(
                self._session,
                lambda: self._schedule.remove(cleared),
                repaired_by="the claim (a cleared stage is skipped)",
            )

    async def dismiss(self, reminder_id: str, staff_id: str, is_admin: bool) -> None:
        reminder = await self._repo.get(reminder_id)
        if reminder is None or reminder.state != OPEN:
            raise NotFound("reminder", reminder_id)
        if reminder.staff_id != staff_id and not is_admin:
            raise Problem(403, "only its staff member or an admin may dismiss a reminder")
        await self.clear([reminder], "dismissed")

    async def fire(self, claims: Sequence[Claim], *, lock: bool) -> list[ReminderDue]:
        """Fire claimed stages once: mark them fired and emit ReminderDue (same transaction).

        A stage already fired (a replica crashed after firing, before it let go of the
        claim) or a cleared reminder is skipped; the derived event id is a last guard.
        """
        rows = await self._repo.for_update(sorted({c.reminder_id for c in claims}), lock=lock)
        staff = await self._repo.staff({row.staff_id for row in rows.values()})
        now = utcnow()
        fired: list[ReminderDue] = []
        for claim in claims:
            reminder = rows.get(claim.reminder_id)
            if reminder is None or reminder.state != OPEN:
                continue
            if claim.stage == "email":
                if reminder.email_fired_at is not None or reminder.email_at is None:
                    continue
                reminder.email_fired_at = now
            else:
                if reminder.due_fired_at is not None:
                    continue
                reminder.due_fired_at = now
            reminder.next_fire_at = next_fire(reminder)
            member = staff.get(reminder.staff_id)
            due = ReminderDue(
                reminder_id=reminder.id,
                contact_id=reminder.contact_id,
                staff_id=reminder.staff_id,
                due_at=reminder.due_at,
                subject=reminder.subject,
                procedure_id=reminder.procedure_id,
                interaction_id=reminder.interaction_id,
                stage=claim.stage,
                staff_email=member.email if member else None,
                staff_language=(member.language if member else "de"),
            )
            self._outbox.emit(
                self._session,
                due,
                event_id=derived_event_id("ReminderDue", reminder.id, claim.stage),
            )
            fired.append(due)
        await self._repo.flush()
        return fired

    # --- procedures -----------------------------------------------------------------------

    async def apply_procedure(self, procedure: ProcedureData, cause_event_id: str) -> None:
        existing = await self._repo.open_for_procedure(procedure.procedure_id)
        if isinstance(procedure, ProcedureCompleted):
            if (await self._repo.rule()).clear_on_completion:
                await self.clear(existing, "completed")
            return
        wanted = procedure.state == "planned" and procedure.reminder
        staff_id = procedure.responsible_id or procedure.created_by.staff_id
        keep = [
            r
            for r in existing
            if wanted and r.staff_id == staff_id and r.due_at == procedure.starts_at
        ]
        stale = [r for r in existing if r not in keep]
        await self.clear(stale, "rescheduled")
        if wanted and not keep:
            await self.create(
                staff_id=staff_id,
                contact_id=procedure.contact_id,
                subject=procedure.subject,
                due_at=procedure.starts_at,
                procedure_id=procedure.procedure_id,
                cause_event_id=cause_event_id,
            )
        for reminder in keep:  # the subject may have changed
            reminder.subject = procedure.subject

    # --- interactions ---------------------------------------------------------------------

    async def apply_interaction(
        self, interaction: InteractionLogged | InteractionUpdated, cause_event_id: str
    ) -> None:
        existing = await self._repo.open_for_interaction(interaction.interaction_id)
        due = follow_up_due(interaction.follow_up_on) if interaction.follow_up_on else None
        staff_id = (
            interaction.recorded_by.staff_id
            if interaction.recorded_by
            else (existing[0].staff_id if existing else None)
        )
        keep = [r for r in existing if due is not None and r.due_at == due]
        await self.clear([r for r in existing if r not in keep], "rescheduled")
        for reminder in keep:
            reminder.subject = interaction.topic
        if due is not None and not keep and staff_id is not None:
            await self.create(
                staff_id=staff_id,
                contact_id=interaction.contact_id,
                subject=interaction.topic,
                due_at=due,
                interaction_id=interaction.interaction_id,
                cause_event_id=cause_event_id,
            )

    async def interaction_deleted(self, interaction_id: str) -> None:
        await self.clear(await self._repo.open_for_interaction(interaction_id), "deleted")

    async def erase_contact(self, contact_id: str) -> None:
        """GDPR: a deleted contact's reminders are cleared and lose their subject, and it
        gets no new one (a procedure's event may still be on its way)."""
        await self._repo.mark_erased(contact_id)
        reminders = await self._repo.for_contact(contact_id)
        await self.clear(reminders, "contact_deleted")
        for reminder in reminders:
            reminder.subject = ""
        await self._repo.flush()

    # --- staff and rules ------------------------------------------------------------------

    async def apply_staff(self, data: StaffData) -> None:
        copy = await self._repo.staff_copy(data.staff_id)
        if copy is None:
            copy = StaffCopy(staff_id=data.staff_id, name=data.name)
            self._repo.add(copy)
        copy.name = data.name
        copy.email = data.email
        copy.language = data.language
        copy.active = data.active
        await self._repo.flush()

    async def rules(self) -> ReminderRule:
        return await self._repo.rule()

    async def set_rules(self, data: ReminderRules) -> ReminderRule:
        rule = await self._repo.stored_rule()
        if rule is None:
            rule = ReminderRule(id=1)
            self._repo.add(rule)
        rule.clear_on_completion = data.clear_on_completion
        rule.email_lead_hours = data.email_lead_hours
        rule.updated_at = utcnow()
        await self._repo.flush()
        return rule
