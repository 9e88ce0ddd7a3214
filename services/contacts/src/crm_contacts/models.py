"""Tables of the contacts service, and the local copies it keeps from other services'
events (staff and competences, history entries, campaign memberships)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm_shared.db import moment_column
from crm_shared.events import utcnow


def _uuid() -> str:
    return str(uuid.uuid4())


class Contact(SQLModel, table=True):
    """A person or a company (business partner).

    ``crm`` holds the CRM properties as the API shows them; the single-valued ones are
    also kept in their own indexed columns (and products and characteristics in their
    own tables) so every CRM property is a cheap filter at a million contacts.
    """

    __tablename__ = "contact"
    # staff filters use ix_contact_staff_status (its first column serves them alone too)
    __table_args__ = (sa.Index("ix_contact_staff_status", "assigned_staff_id", "status"),)

    id: str = Field(default_factory=_uuid, primary_key=True, max_length=36)
    kind: str = Field(max_length=16)
    name: str = Field(max_length=300)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)
    language: str = Field(default="de", max_length=2)
    status: str = Field(default="prospect", max_length=16, index=True)
    status_before_archive: str | None = Field(default=None, max_length=16)
    company_id: str | None = Field(default=None, max_length=36, index=True)
    customer_number: str | None = Field(default=None, max_length=64, unique=True)
    credit_hold: bool = False
    assignment_mode: str = Field(default="all", max_length=16)
    assigned_staff_id: str | None = Field(default=None, max_length=36)
    assigned_competence_id: str | None = Field(default=None, max_length=36, index=True)
    address: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON))
    crm: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    crm_status: str | None = Field(default=None, max_length=100, index=True)
    company_group: str | None = Field(default=None, max_length=100, index=True)
    company_size: str | None = Field(default=None, max_length=100, index=True)
    employees: int | None = Field(default=None, index=True)
    revenue_group: str | None = Field(default=None, max_length=100, index=True)
    newsletter: bool | None = Field(default=None, index=True)
    data_source: str | None = Field(default=None, max_length=100, index=True)
    interested: bool | None = Field(default=None, index=True)
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())


SORT_COVERED = (
    "kind",
    "status",
    "assigned_staff_id",
    "assigned_competence_id",
    "crm_status",
    "company_group",
    "company_size",
    "revenue_group",
)
"""Columns the list's sort index carries beside (sort_name, id), so a page filtered on
them walks the index alone, never the wide rows (see ContactRepository.page)."""

# The list order as a column: lower(name), in code point order. Computed by the database
# (never written by the ORM, so not an attribute of Contact); stored on PostgreSQL, where
# the covering index needs it; the migration adds it virtual on SQLite (which cannot add
# a stored one to a table).
Contact.__table__.append_column(  # type: ignore[attr-defined]
    sa.Column(
        "sort_name",
        sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
        sa.Computed("lower(name)", persisted=True),
    )
)
sa.Index(
    "ix_contact_sort_name",
    Contact.__table__.c.sort_name,  # type: ignore[attr-defined]
    Contact.__table__.c.id,  # type: ignore[attr-defined]
    postgresql_include=list(SORT_COVERED),
)


class ContactName(SQLModel, table=True):
    """Each contact's sort key alone, for the substring search (PostgreSQL): its trigram
    index finds the matches and their keys sit in narrow rows that stay cached, so a
    fragment matching 15,000 of 1,000,000 contacts sorts them without reading 15,000
    wide contact rows. Kept by statement triggers on ``contact`` (the migration
    ``contact name table``), whatever writes it (ORM, the import's COPY); empty on
    SQLite, which searches the contact table."""

    __tablename__ = "contact_name"

    id: str = Field(primary_key=True, max_length=36)
    sort_name: str = Field(
        sa_column=sa.Column(
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), nullable=False
        )
    )


class ContactProduct(SQLModel, table=True):
    """A product of a contact's CRM properties (one row per product, for filtering)."""

    __tablename__ = "contact_product"
    __table_args__ = (sa.Index("ix_contact_product_product_contact", "product", "contact_id"),)

    contact_id: str = Field(primary_key=True, max_length=36)
    product: str = Field(primary_key=True, max_length=200)


class ContactCharacteristic(SQLModel, table=True):
    """A free characteristic (Merkmal) of a contact: key and value."""

    __tablename__ = "contact_characteristic"
    __table_args__ = (sa.Index("ix_contact_characteristic_kv", "key", "value", "contact_id"),)

    contact_id: str = Field(primary_key=True, max_length=36)
    key: str = Field(primary_key=True, max_length=100)
    value: str = Field(max_length=500)


class NumberRange(SQLModel, table=True):
    """A customer number range (Nummernkreis): prefix, next value, width, suffix."""

    __tablename__ = "number_range"

    id: str = Field(default_factory=_uuid, primary_key=True, max_length=36)
    name: str = Field(max_length=200, unique=True)
    prefix: str = Field(default="", max_length=20)
    suffix: str = Field(default="", max_length=20)
    next_value: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    width: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())


class ContactGroup(SQLModel, table=True):
    """A group: static (members listed), dynamic (a saved filter) or temporary."""

    __tablename__ = "contact_group"

    id: str = Field(default_factory=_uuid, primary_key=True, max_length=36)
    name: str = Field(max_length=200)
    number: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=16, index=True)
    filter: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON))
    assignment_mode: str = Field(default="all", max_length=16)
    assigned_staff_id: str | None = Field(default=None, max_length=36)
    assigned_competence_id: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())


class GroupMember(SQLModel, table=True):
    __tablename__ = "group_member"
    __table_args__ = (sa.Index("ix_group_member_contact", "contact_id"),)

    group_id: str = Field(primary_key=True, max_length=36)
    contact_id: str = Field(primary_key=True, max_length=36)


class StaffCopy(SQLModel, table=True):
    """A staff member as published by the gateway on ``crm.staff``."""

    __tablename__ = "contacts_staff"

    staff_id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=200)
    active: bool = True


class CompetenceCopy(SQLModel, table=True):
    """A competence (named group of staff) as published by the gateway."""

    __tablename__ = "competence_copy"

    competence_id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=200)


class CompetenceMember(SQLModel, table=True):
    __tablename__ = "competence_member"
    __table_args__ = (sa.Index("ix_competence_member_staff", "staff_id"),)

    competence_id: str = Field(primary_key=True, max_length=36)
    staff_id: str = Field(primary_key=True, max_length=36)


class CampaignMembership(SQLModel, table=True):
    """A contact's campaign membership, from CampaignMemberAdded/Removed."""

    __tablename__ = "campaign_membership"
    __table_args__ = (sa.Index("ix_campaign_membership_contact", "contact_id"),)

    campaign_id: str = Field(primary_key=True, max_length=36)
    contact_id: str = Field(primary_key=True, max_length=36)


class HistoryEntryCopy(SQLModel, table=True):
    """The filterable fields of a history entry, from HistoryEntryCreated/Updated/Deleted.

    Each field's index also holds the date: the usual selection is a field and a period,
    which is then one range of one index."""

    __tablename__ = "history_entry_copy"
    __table_args__ = (
        sa.Index("ix_history_entry_copy_action", "action", "date", "contact_id"),
        sa.Index("ix_history_entry_copy_info", "info", "date", "contact_id"),
        sa.Index("ix_history_entry_copy_date", "date", "contact_id"),
        sa.Index("ix_history_entry_copy_initials", "staff_initials", "date", "contact_id"),
        sa.Index("ix_history_entry_copy_field1", "field1", "date", "contact_id"),
        sa.Index("ix_history_entry_copy_field2", "field2", "date", "contact_id"),
        sa.Index("ix_history_entry_copy_field3", "field3", "date", "contact_id"),
        sa.Index("ix_history_entry_copy_field4", "field4", "date", "contact_id"),
    )

    entry_id: str = Field(primary_key=True, max_length=36)
    contact_id: str = Field(max_length=36, index=True)
    date: date
    staff_initials: str | None = Field(default=None, max_length=20)
    action: str | None = Field(default=None, max_length=200)
    info: str | None = Field(default=None, max_length=200)
    field1: str | None = Field(default=None, max_length=500)
    field2: str | None = Field(default=None, max_length=500)
    field3: str | None = Field(default=None, max_length=500)
    field4: str | None = Field(default=None, max_length=500)
    field5: bool = False
    field6: bool = False


class ImportJob(SQLModel, table=True):
    """A CSV import run in the background (``Prefer: respond-async``).

    Its counters are written in the transaction of each batch, so after a crash they
    show exactly what was committed: every line up to ``last_line`` is imported."""

    __tablename__ = "contact_import_job"

    id: str = Field(default_factory=_uuid, primary_key=True, max_length=36)
    state: str = Field(default="running", max_length=16)
    total: int | None = None
    done: int = 0
    created: int = 0
    error_count: int = 0
    errors: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    last_line: int = 1
    message: str | None = Field(default=None, max_length=2000)
    created_by: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())


class CrmSettingsCopy(SQLModel, table=True):
    """The admin lists of seed 003 as the campaigns service announced them last
    (``CrmSettingsChanged``; one row, id 1): CRM values on contacts are checked against
    them."""

    __tablename__ = "crm_settings_copy"

    id: int = Field(default=1, primary_key=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    version: int = 0
