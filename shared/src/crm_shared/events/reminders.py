"""Events of the reminders service, on ``crm.reminders`` (key: the contact id)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from crm_shared.events.base import EventData, Topic, event


class ReminderData(EventData):
    reminder_id: str
    contact_id: str
    staff_id: str
    due_at: datetime
    subject: str
    procedure_id: str | None = None
    interaction_id: str | None = None


@event("ReminderCreated", Topic.REMINDERS)
class ReminderCreated(ReminderData):
    """A reminder was scheduled for a staff member."""

    email_at: datetime | None = None


@event("ReminderDue", Topic.REMINDERS)
class ReminderDue(ReminderData):
    """A reminder fired, once: ``stage`` "email" at the lead time (the notifier emails the
    staff member), "due" at the due time (the notifier pushes a notification)."""

    stage: Literal["email", "due"]
    staff_email: str | None = None
    staff_language: Literal["de", "en"] = "de"


@event("ReminderCleared", Topic.REMINDERS)
class ReminderCleared(EventData):
    """A reminder was removed (its procedure completed, rescheduled or deleted)."""

    reminder_id: str
    contact_id: str
    staff_id: str
    reason: Literal["completed", "rescheduled", "deleted", "contact_deleted", "dismissed"]
