"""Tables of the notifier: staff notifications and the copies needed to address them."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm_shared.db import moment_column
from crm_shared.events import utcnow


class Notification(SQLModel, table=True):
    """A push notification for one staff member (the list behind the bell icon)."""

    __tablename__ = "notification"
    __table_args__ = (sa.Index("ix_notification_staff_created", "staff_id", "created_at", "id"),)

    # derived from (cause event, staff member): a repeated cause stores nothing new
    id: str = Field(primary_key=True, max_length=36)
    staff_id: str = Field(max_length=36)
    kind: str = Field(max_length=32)
    title: str = Field(max_length=500)
    body: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    contact_id: str | None = Field(default=None, max_length=36, index=True)
    link: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())
    read_at: datetime | None = Field(default=None, sa_column=moment_column(nullable=True))


class ContactCopy(SQLModel, table=True):
    """Who looks after a contact, from ContactCreated/ContactUpdated/ContactAssigned."""

    __tablename__ = "notifier_contact_copy"

    contact_id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=300)
    mode: str = Field(default="all", max_length=16)
    staff_id: str | None = Field(default=None, max_length=36)
    competence_id: str | None = Field(default=None, max_length=36)
    version: int = 0


class CompetenceCopy(SQLModel, table=True):
    """A competence's members, from CompetenceChanged."""

    __tablename__ = "notifier_competence_copy"

    competence_id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=200)
    member_ids: list[str] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False)
    )


class StaffCopy(SQLModel, table=True):
    """A staff member's language and whether they are active, from StaffCreated/Updated."""

    __tablename__ = "notifier_staff_copy"

    staff_id: str = Field(primary_key=True, max_length=36)
    language: str = Field(default="de", max_length=2)
    active: bool = True


class SentEmail(SQLModel, table=True):
    """A mail the notifier sent (or gave up on) to or about a contact, from its own
    ``EmailSent``/``EmailFailed``: what the personal-data export shows under ``emails``.
    Erased with the contact (``ContactDeleted``)."""

    __tablename__ = "sent_email"

    message_id: str = Field(primary_key=True, max_length=200)
    contact_id: str = Field(max_length=36, index=True)
    cause_event_id: str = Field(max_length=64)
    template: str = Field(max_length=100)
    recipient: str = Field(max_length=320)
    status: str = Field(max_length=16)
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    at: datetime = Field(sa_column=moment_column())
