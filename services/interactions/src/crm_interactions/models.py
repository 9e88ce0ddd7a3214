"""Tables of the interactions service."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm_shared.db import moment_column
from crm_shared.events import utcnow

DELETED = "deleted"
"""The status of a deleted contact's copy: a tombstone without personal data."""


class ContactCopy(SQLModel, table=True):
    """The local copy of a contact, kept from contact events only (never a call); a
    deleted one stays as a tombstone (status ``deleted``)."""

    __tablename__ = "contact_copy"

    contact_id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=300)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)
    language: str = Field(default="de", max_length=2)
    status: str = Field(max_length=16)
    credit_hold: bool = False
    version: int = 0
    kind: str = Field(default="person", max_length=16)
    company_id: str | None = Field(default=None, max_length=36)
    customer_number: str | None = Field(default=None, max_length=64)


class StaffCopy(SQLModel, table=True):
    """The local copy of a staff member, from StaffCreated/StaffUpdated on crm.staff."""

    __tablename__ = "staff_copy"

    staff_id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=200)
    initials: str | None = Field(default=None, max_length=16)
    email: str | None = Field(default=None, max_length=320)
    active: bool = True


class CampaignCopy(SQLModel, table=True):
    """The local copy of a campaign, from CampaignCreated/CampaignRetired on crm.campaigns."""

    __tablename__ = "campaign_copy"

    campaign_id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=300)
    retired: bool = False


class Interaction(SQLModel, table=True):
    """A customer interaction (Kundeninteraktion)."""

    __tablename__ = "interaction"

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=36)
    contact_id: str = Field(max_length=36, index=True)
    topic: str = Field(max_length=300)
    kind: str = Field(max_length=16, index=True)
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    occurred_at: datetime = Field(sa_column=moment_column())
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
    recorded_by_email: str | None = Field(default=None, max_length=320)
    origin: str = Field(default="staff", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())


class Procedure(SQLModel, table=True):
    """A procedure (Kontaktvorgang, seed 004): a call, meeting, email, letter or measure."""

    __tablename__ = "procedure"

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=36)
    contact_id: str = Field(max_length=36, index=True)
    contact_person_id: str | None = Field(default=None, max_length=36)
    responsible_id: str | None = Field(default=None, max_length=36, index=True)
    created_by_id: str = Field(max_length=36)
    created_by_name: str = Field(max_length=200)
    created_by_initials: str | None = Field(default=None, max_length=16)
    created_by_email: str | None = Field(default=None, max_length=320)
    type: str = Field(max_length=16)
    direction: str = Field(max_length=16)
    state: str = Field(max_length=16, index=True)
    starts_at: datetime = Field(sa_column=moment_column())
    duration_minutes: int = 0
    reminder: bool = False
    subject: str = Field(max_length=300)
    description: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    campaign_id: str | None = Field(default=None, max_length=36, index=True)
    note: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    completed_at: datetime | None = Field(default=None, sa_column=moment_column(nullable=True))
    completed_by_id: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())


class PortalToken(SQLModel, table=True):
    """A one-time portal login token; only its SHA-256 hash is stored."""

    __tablename__ = "portal_token"

    token_hash: str = Field(primary_key=True, max_length=64)
    contact_id: str = Field(max_length=36, index=True)
    expires_at: datetime = Field(sa_column=moment_column())
    used_at: datetime | None = Field(default=None, sa_column=moment_column(nullable=True))


class PortalSession(SQLModel, table=True):
    """A customer's portal session; the cookie holds a random id, we keep its hash."""

    __tablename__ = "portal_session"

    session_hash: str = Field(primary_key=True, max_length=64)
    contact_id: str = Field(max_length=36, index=True)
    expires_at: datetime = Field(sa_column=moment_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())


class PortalLinkRequest(SQLModel, table=True):
    """A login link asked for an address no contact has here yet: the contact may have
    been created a moment ago and its ContactCreated still be on its way. A contact copy
    that gets the address before ``expires_at`` gets the link (``PortalService.
    serve_pending``); the address (lower case) is kept only that long."""

    __tablename__ = "portal_link_request"

    email: str = Field(primary_key=True, max_length=320)
    expires_at: datetime = Field(sa_column=moment_column())
