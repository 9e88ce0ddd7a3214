"""Tables of the history service."""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm_shared.db import moment_column
from crm_shared.events import utcnow


def _json() -> Any:
    return sa.Column(sa.JSON, nullable=False)


class HistorySettings(SQLModel, table=True):
    """The admin's pick lists and field labels (one row, id 1)."""

    __tablename__ = "history_settings"

    id: int = Field(default=1, primary_key=True)
    actions: list[str] = Field(default_factory=list, sa_column=_json())
    infos: list[str] = Field(default_factory=list, sa_column=_json())
    field_labels: dict[str, str] = Field(default_factory=dict, sa_column=_json())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())


class ContactCopy(SQLModel, table=True):
    """The local copy of a contact, kept from contact events only (never a call).

    A deleted contact stays as a tombstone (status ``deleted``, no personal data), so
    late events about it are ignored."""

    __tablename__ = "history_contact"

    contact_id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=300)
    email: str | None = Field(default=None, max_length=320)
    language: str = Field(default="de", max_length=2)
    customer_number: str | None = Field(default=None, max_length=64, index=True)
    status: str = Field(max_length=16, index=True)
    version: int = 0


class HistoryEntry(SQLModel, table=True):
    """A customer history entry (Kundenhistory, seed 000)."""

    __tablename__ = "history_entry"
    __table_args__ = (sa.Index("ix_history_entry_contact_order", "contact_id", "date", "seq"),)

    id: str = Field(primary_key=True, max_length=36)
    contact_id: str = Field(max_length=36)
    date: dt.date
    staff_initials: str | None = Field(default=None, max_length=16)
    action: str | None = Field(default=None, max_length=200)
    info: str | None = Field(default=None, max_length=200)
    field1: str | None = Field(default=None, max_length=500)
    field2: str | None = Field(default=None, max_length=500)
    field3: str | None = Field(default=None, max_length=500)
    field4: str | None = Field(default=None, max_length=500)
    field5: bool = False
    field6: bool = False
    text: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    created_by_id: str | None = Field(default=None, max_length=36)
    created_by_name: str | None = Field(default=None, max_length=200)
    job_id: str | None = Field(default=None, max_length=36, index=True)
    # Order of creation within a day (newest first in the pager); microseconds since epoch.
    seq: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())


class Job(SQLModel, table=True):
    """A tracked background job (bulk entry, mailing). ``done`` is the cursor into the
    selection, advanced in the same transaction as the rows of each batch."""

    __tablename__ = "job"

    id: str = Field(primary_key=True, max_length=36)
    kind: str = Field(max_length=16)
    state: str = Field(default="running", max_length=16, index=True)
    total: int = 0
    done: int = 0
    skipped: int = 0
    params: dict[str, Any] = Field(default_factory=dict, sa_column=_json())
    created_by: dict[str, Any] = Field(default_factory=dict, sa_column=_json())
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())
    finished_at: datetime | None = Field(default=None, sa_column=moment_column(nullable=True))
    token: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    """The positions the job's batches wrote (a consistency token): ``GET /api/jobs/{id}``
    answers it, so whoever sees the job done reads copies that have its entries."""


class JobSelection(SQLModel, table=True):
    """The contacts a job's selection held when the job started, as the contacts service
    resolved them, in processing order (kept apart from the small, often-read job row).

    ``contacts`` holds a row per contact: ``[id, status, name, email, language,
    customer_number]`` (what the entries and the mails are made of: the version the user
    acted on). Jobs from before it have only ``contact_ids``."""

    __tablename__ = "job_selection"

    job_id: str = Field(primary_key=True, max_length=36)
    contact_ids: list[str] = Field(default_factory=list, sa_column=_json())
    contacts: list[list[Any]] | None = Field(
        default=None, sa_column=sa.Column(sa.JSON, nullable=True)
    )


class TimelineItem(SQLModel, table=True):
    """One item of a contact's CRM timeline (CRM-Historie, seed 004). Keyed by the id of
    the event it came from, so a replayed event never adds a second item."""

    __tablename__ = "timeline_item"
    __table_args__ = (sa.Index("ix_timeline_item_contact_at", "contact_id", "at", "id"),)

    id: str = Field(primary_key=True, max_length=64)
    contact_id: str = Field(max_length=36)
    at: datetime = Field(sa_column=moment_column())
    type: str = Field(max_length=32)
    source: str = Field(max_length=64)
    summary: str = Field(max_length=500)
    ref_id: str | None = Field(default=None, max_length=64)


class AuditEntry(SQLModel, table=True):
    """One row of the audit trail: who changed what and when about a contact (created,
    updated, status, assigned, deleted), keyed by the id of the event it came from.

    It holds no personal data of the contact (field names, statuses and ids only, see
    ``crm_history.audit``), so a permanent delete keeps it: the fact stays, the person
    does not."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        sa.Index("ix_audit_entry_contact_at", "contact_id", "at", "id"),
        sa.Index("ix_audit_entry_at", "at", "id"),
    )

    id: str = Field(primary_key=True, max_length=64)
    contact_id: str = Field(max_length=36)
    at: datetime = Field(sa_column=moment_column())
    action: str = Field(max_length=16)
    actor_id: str | None = Field(default=None, max_length=36)
    actor_name: str | None = Field(default=None, max_length=200)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=_json())
