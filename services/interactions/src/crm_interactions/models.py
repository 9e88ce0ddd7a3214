"""Tables of the interactions service."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm_shared.events import utcnow


def _tz(nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class ContactCopy(SQLModel, table=True):
    """The local copy of a contact, kept from contact events only (never a call)."""

    __tablename__ = "contact_copy"

    contact_id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=300)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)
    language: str = Field(default="de", max_length=2)
    status: str = Field(max_length=16)
    credit_hold: bool = False
    version: int = 0


class Interaction(SQLModel, table=True):
    """A customer interaction (Kundeninteraktion)."""

    __tablename__ = "interaction"

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=36)
    contact_id: str = Field(max_length=36, index=True)
    topic: str = Field(max_length=300)
    kind: str = Field(max_length=16, index=True)
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    occurred_at: datetime = Field(sa_column=_tz())
    follow_up_on: date | None = None
    recorded_by_id: str = Field(max_length=36)
    recorded_by_name: str = Field(max_length=200, index=True)
    recorded_by_initials: str | None = Field(default=None, max_length=16)
    contact_name: str | None = Field(default=None, max_length=300)
    contact_phone: str | None = Field(default=None, max_length=64)
    sales_contact: str | None = Field(default=None, max_length=200)
    salesperson: str | None = Field(default=None, max_length=200)
    reference: str | None = Field(default=None, max_length=200)
    reply_to: str | None = Field(default=None, max_length=320)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_tz())
