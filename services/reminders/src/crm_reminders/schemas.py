"""API request and response models of the reminders service."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


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
