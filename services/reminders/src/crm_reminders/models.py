"""Tables of the reminders service. The database is the source of truth for reminders;
Redis holds only the schedule and is rebuilt from here."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm_shared.db import moment_column
from crm_shared.events import utcnow

OPEN = "open"
CLEARED = "cleared"


class Reminder(SQLModel, table=True):
    """A reminder (Erinnerung) for one staff member about a procedure or a follow-up.

    Its times never change: a rescheduled procedure clears the reminder and gets a new
    one, so a schedule entry of the old one can never fire at the wrong time.
    """

    __tablename__ = "reminder"
    __table_args__ = (sa.Index("ix_reminder_staff_state_due", "staff_id", "state", "due_at"),)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=36)
    staff_id: str = Field(max_length=36)
    contact_id: str = Field(max_length=36, index=True)
    procedure_id: str | None = Field(default=None, max_length=36, index=True)
    interaction_id: str | None = Field(default=None, max_length=36, index=True)
    subject: str = Field(max_length=300)
    due_at: datetime = Field(sa_column=moment_column())
    email_at: datetime | None = Field(default=None, sa_column=moment_column(nullable=True))
    email_fired_at: datetime | None = Field(default=None, sa_column=moment_column(nullable=True))
    due_fired_at: datetime | None = Field(default=None, sa_column=moment_column(nullable=True))
    # the earliest stage not fired yet (None when both fired or the reminder is cleared):
    # what the schedule is rebuilt from
    next_fire_at: datetime | None = Field(
        default=None, sa_column=moment_column(nullable=True, index=True)
    )
    state: str = Field(default=OPEN, max_length=16)
    cleared_reason: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())
    cleared_at: datetime | None = Field(default=None, sa_column=moment_column(nullable=True))


class StaffCopy(SQLModel, table=True):
    """A staff member's address and language, kept from StaffCreated/StaffUpdated."""

    __tablename__ = "reminder_staff_copy"

    staff_id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=320)
    language: str = Field(default="de", max_length=2)
    active: bool = True


class ReminderRule(SQLModel, table=True):
    """The admin's reminder rule (one row, id 1)."""

    __tablename__ = "reminder_rule"

    id: int = Field(default=1, primary_key=True)
    clear_on_completion: bool = True
    email_lead_hours: int = 24
    updated_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())


class ErasedContact(SQLModel, table=True):
    """A contact deleted for good (``ContactDeleted``): no reminder is made for it any
    more, whatever procedure or follow-up event still arrives for it (they come on other
    topics, so they may be processed after the delete)."""

    __tablename__ = "reminder_erased_contact"

    contact_id: str = Field(primary_key=True, max_length=36)
    erased_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())
