"""Tables of the campaigns service."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from crm_shared.db import moment_column
from crm_shared.events import utcnow

DELETED = "deleted"
"""The status of a contact copy's tombstone."""


def new_id() -> str:
    return str(uuid.uuid4())


class ContactCopy(SQLModel, table=True):
    """The local copy of a contact and its CRM facts, kept from contact events only.

    A deleted contact stays as a tombstone (``status = "deleted"``, no personal data) so a
    late ``ContactUpdated`` cannot bring it back.
    """

    __tablename__ = "campaign_contact"

    contact_id: str = Field(primary_key=True, max_length=36)
    kind: str = Field(max_length=16)
    name: str = Field(max_length=300)
    status: str = Field(max_length=16)
    company_id: str | None = Field(default=None, max_length=36, index=True)
    company_size: str | None = Field(default=None, max_length=100)
    company_group: str | None = Field(default=None, max_length=200)
    revenue_group: str | None = Field(default=None, max_length=100)
    employees: int | None = None
    version: int = 0


class Campaign(SQLModel, table=True):
    """A time-limited sales project (Kampagne). Retired for good once ``retired_at`` is set."""

    __tablename__ = "campaign"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    name: str = Field(max_length=200, index=True)
    description: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    starts_on: date
    ends_on: date
    products: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    retired_at: datetime | None = Field(default=None, sa_column=moment_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())


class CampaignMember(SQLModel, table=True):
    """A contact assigned to a campaign."""

    __tablename__ = "campaign_member"

    campaign_id: str = Field(foreign_key="campaign.id", primary_key=True, max_length=36)
    contact_id: str = Field(primary_key=True, max_length=36, index=True)
    added_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())


class CrmSettings(SQLModel, table=True):
    """The admin lists of seed 003 (one row, id 1); defaults until an admin saves them."""

    __tablename__ = "crm_settings"

    id: int = Field(default=1, primary_key=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())
    version: int = Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0")
    )
    """Grows with every save; CrmSettingsChanged carries it."""


class Opportunity(SQLModel, table=True):
    """A sales case on a contact or company (seed 003 "CRM im Ticket").

    ``products`` and ``campaign_ids`` are kept twice: as JSON for reading, and as the link
    tables below, which filters and the dashboard's GROUP BY join.
    """

    __tablename__ = "opportunity"
    __table_args__ = (sa.Index("ix_opportunity_created_at_id", "created_at", "id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    contact_id: str = Field(max_length=36, index=True)
    title: str = Field(max_length=300)
    crm_status: str = Field(max_length=100, index=True)
    closing_probability: int
    revenue_potential: Decimal = Field(sa_column=sa.Column(sa.Numeric(14, 2), nullable=False))
    # The same amount in cents: the dashboard sums and compares integers, several times
    # faster than NUMERIC over 200,000 rows. Always set together with revenue_potential.
    revenue_cents: int = Field(
        default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0")
    )
    currency: str = Field(default="EUR", max_length=3)
    expected_users: int | None = None
    assignee_id: str | None = Field(default=None, max_length=36, index=True)
    # The company facts the dashboard groups by, kept here so it needs no join: the
    # company of a contact person (its company_id), else the contact itself ("org").
    # Refreshed from contact events (OpportunityService.follow_contacts).
    org_id: str | None = Field(default=None, max_length=36, index=True)
    company_size: str | None = Field(default=None, max_length=100)
    company_group: str | None = Field(default=None, max_length=200)
    products: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    campaign_ids: list[str] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())


class OpportunityProduct(SQLModel, table=True):
    __tablename__ = "opportunity_product"

    opportunity_id: str = Field(
        sa_column=sa.Column(
            sa.String(36), sa.ForeignKey("opportunity.id", ondelete="CASCADE"), primary_key=True
        )
    )
    product: str = Field(primary_key=True, max_length=200, index=True)


class OpportunityCampaign(SQLModel, table=True):
    __tablename__ = "opportunity_campaign"

    opportunity_id: str = Field(
        sa_column=sa.Column(
            sa.String(36), sa.ForeignKey("opportunity.id", ondelete="CASCADE"), primary_key=True
        )
    )
    campaign_id: str = Field(primary_key=True, max_length=36, index=True)


def _codes() -> Any:
    """A list of integer codes: an array on PostgreSQL, JSON elsewhere."""
    return sa.Column(
        sa.JSON().with_variant(postgresql.ARRAY(sa.Integer()), "postgresql"), nullable=False
    )


class DashboardCode(SQLModel, table=True):
    """One integer per (field, value) the dashboard groups by (see
    crm_campaigns.dashboard.facts)."""

    __tablename__ = "dashboard_code"
    __table_args__ = (sa.UniqueConstraint("field", "value", name="uq_dashboard_code_field_value"),)

    code: int | None = Field(default=None, primary_key=True)
    field: str = Field(max_length=20)
    value: str = Field(max_length=200)


class OpportunityFact(SQLModel, table=True):
    """The dashboard's narrow copy of an opportunity: codes instead of text, kept in the
    transaction of every change (see crm_campaigns.dashboard.facts)."""

    __tablename__ = "opportunity_fact"

    opportunity_id: str = Field(
        sa_column=sa.Column(
            sa.String(36), sa.ForeignKey("opportunity.id", ondelete="CASCADE"), primary_key=True
        )
    )
    crm_status: int | None = None
    contact_id: int | None = Field(default=None, index=True)
    org_id: int | None = Field(default=None, index=True)
    company_size: int | None = None
    company_group: int | None = None
    assignee_id: int | None = None
    revenue_group: int | None = Field(default=None, sa_column=sa.Column(sa.SmallInteger))
    expected_users: int | None = None
    revenue_cents: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    weighted_cents: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    products: list[int] = Field(default_factory=list, sa_column=_codes())
    campaign_ids: list[int] = Field(default_factory=list, sa_column=_codes())


class _RollupColumns(SQLModel):
    """The dashboard's totals per combination of the scalar codes (see
    crm_campaigns.dashboard.rollup); 0 stands for "none" so the key can be unique."""

    axis: int = Field(sa_type=sa.SmallInteger, nullable=False)
    """0: one row per opportunity; 1: one per product of it; 2: one per campaign of it."""
    item: int = Field(nullable=False)
    """The product or campaign code on axes 1 and 2 (0: none), 0 on axis 0."""
    crm_status: int = Field(nullable=False)
    company_size: int = Field(nullable=False)
    company_group: int = Field(nullable=False)
    assignee_id: int = Field(nullable=False)
    revenue_group: int = Field(sa_type=sa.SmallInteger, nullable=False)
    n: int = Field(sa_type=sa.BigInteger, nullable=False)
    revenue_cents: Decimal = Field(sa_type=sa.Numeric, nullable=False)
    weighted_cents: Decimal = Field(sa_type=sa.Numeric, nullable=False)


class OpportunityRollup(_RollupColumns, table=True):
    """Folded totals (PostgreSQL only: kept by a trigger and the compactor)."""

    __tablename__ = "opportunity_rollup"
    __table_args__ = (
        sa.PrimaryKeyConstraint(
            "axis",
            "item",
            "crm_status",
            "company_size",
            "company_group",
            "assignee_id",
            "revenue_group",
            name="pk_opportunity_rollup",
        ),
    )


class OpportunityRollupDelta(_RollupColumns, table=True):
    """Changes to the totals not folded in yet: the trigger on ``opportunity_fact`` only
    ever appends here, so writers of facts never wait for each other on a total."""

    __tablename__ = "opportunity_rollup_delta"

    id: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=True)
    )
