"""API request and response models of the reminders service, and the mappers from its
rows (``ReminderPublic.of``, ``ReminderRules.of``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from crm_reminders.models import Reminder, ReminderRule


class ReminderPublic(BaseModel):
    id: str
    due_at: datetime
    email_at: datetime | None = None
    procedure_id: str | None = None
    interaction_id: str | None = None
    contact_id: str
    staff_id: str
    subject: str
    fired: bool = Field(description="the due time has passed and the push went out")

    @classmethod
    def of(cls, reminder: Reminder) -> ReminderPublic:
        return cls.model_validate(
            reminder.model_dump() | {"fired": reminder.due_fired_at is not None}
        )


class ReminderRecord(ReminderPublic):
    """A reminder as the personal-data export shows it: open or cleared, and why."""

    state: str
    cleared_reason: str | None = None
    created_at: datetime
    cleared_at: datetime | None = None


class RemindersPersonalData(BaseModel):
    """What the reminders service holds about a contact (its part of ``GET
    /api/contacts/{id}/personal-data``): every reminder about it, open or cleared,
    soonest due first."""

    reminders: list[ReminderRecord]


class ReminderPage(BaseModel):
    items: list[ReminderPublic]
    next_cursor: str | None = None


class ReminderRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    clear_on_completion: bool = Field(
        default=True,
        description="completing a procedure removes its reminders (seed 004); "
        "false keeps them in the list",
    )
    email_lead_hours: int = Field(
        default=24,
        ge=0,
        le=24 * 90,
        description="the reminder email goes out this many hours before the due time",
    )

    @classmethod
    def of(cls, rule: ReminderRule) -> ReminderRules:
        return cls(
            clear_on_completion=rule.clear_on_completion, email_lead_hours=rule.email_lead_hours
        )
