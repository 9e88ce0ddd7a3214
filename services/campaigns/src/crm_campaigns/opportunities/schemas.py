"""API models of opportunities, their filters (list, export and dashboard), and the
mappers from their rows to the answer and to CSV."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from crm_campaigns.crm_settings.schemas import CrmSettingsData, ListValue
from crm_campaigns.models import ContactCopy, Opportunity
from crm_campaigns.money import Money, MoneyOut
from crm_shared.csv_export import cell, csv_line
from crm_shared.errors import Unprocessable
from crm_shared.fields import Count, NotNull, PlainText


class OpportunityCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    contact_id: str = Field(min_length=1, max_length=36)
    title: PlainText = Field(min_length=1, max_length=300)
    crm_status: PlainText = Field(min_length=1, max_length=100)
    closing_probability: int = Field(ge=0, le=100)
    revenue_potential: Money
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    expected_users: Count | None = None
    campaign_ids: list[str] = Field(default_factory=list, max_length=100)
    products: list[ListValue] = Field(default_factory=list, max_length=100)
    assignee_id: str | None = Field(default=None, max_length=36)


class OpportunityUpdate(BaseModel):
    """A partial change; ``null`` clears ``expected_users`` and ``assignee_id`` and is a
    422 for the other fields (``NotNull``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    contact_id: NotNull[str] = Field(default=None, min_length=1, max_length=36)
    title: NotNull[PlainText] = Field(default=None, min_length=1, max_length=300)
    crm_status: NotNull[PlainText] = Field(default=None, min_length=1, max_length=100)
    closing_probability: NotNull[int] = Field(default=None, ge=0, le=100)
    revenue_potential: NotNull[Money] = None
    currency: NotNull[str] = Field(default=None, pattern=r"^[A-Z]{3}$")
    expected_users: Count | None = None
    campaign_ids: NotNull[list[str]] = Field(default=None, max_length=100)
    products: NotNull[list[ListValue]] = Field(default=None, max_length=100)
    assignee_id: str | None = Field(default=None, max_length=36)


class OpportunityPublic(BaseModel):
    id: str
    contact_id: str
    contact_name: str | None
    title: str
    crm_status: str
    closing_probability: int
    revenue_potential: MoneyOut
    currency: str
    revenue_group: str | None = Field(
        description="derived from revenue_potential and the revenue_groups list"
    )
    expected_users: int | None
    campaign_ids: list[str]
    products: list[str]
    assignee_id: str | None
    company_size: str | None = Field(description="of the contact's company (or the contact)")
    company_group: str | None = Field(description="of the contact's company (or the contact)")
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(
        cls, opportunity: Opportunity, settings: CrmSettingsData, contact: ContactCopy | None
    ) -> OpportunityPublic:
        return cls(
            **opportunity.model_dump(),
            contact_name=contact.name if contact else None,
            revenue_group=settings.revenue_group_of(opportunity.revenue_potential),
        )


class OpportunityPage(BaseModel):
    items: list[OpportunityPublic]
    next_cursor: str | None


@dataclass
class OpportunityFilter:
    """Every filter of the list, the export and the dashboard; each accepts several values
    (repeat the parameter, or separate with commas) and matches any of them."""

    crm_status: list[str] = field(default_factory=list)
    revenue_group: list[str] = field(default_factory=list)
    assignee_id: list[str] = field(default_factory=list)
    campaign_id: list[str] = field(default_factory=list)
    product: list[str] = field(default_factory=list)
    contact_id: list[str] = field(default_factory=list)
    company_size: list[str] = field(default_factory=list)
    company_group: list[str] = field(default_factory=list)
    users_from: int | None = None
    users_to: int | None = None


def split(values: list[str] | None) -> list[str]:
    """``?a=x&a=y`` and ``?a=x,y`` both mean x or y."""
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


Many = Annotated[list[PlainText] | None, Query()]


async def opportunity_filter(
    crm_status: Many = None,
    revenue_group: Many = None,
    assignee_id: Many = None,
    campaign_id: Many = None,
    product: Many = None,
    contact_id: Many = None,
    company_size: Many = None,
    company_group: Many = None,
    users_from: Annotated[Count | None, Query()] = None,
    users_to: Annotated[Count | None, Query()] = None,
) -> OpportunityFilter:
    """The filters of a request's query string."""
    if users_from is not None and users_to is not None and users_to < users_from:
        raise Unprocessable("users_to", "must not be below users_from")
    return OpportunityFilter(
        crm_status=split(crm_status),
        revenue_group=split(revenue_group),
        assignee_id=split(assignee_id),
        campaign_id=split(campaign_id),
        product=split(product),
        contact_id=split(contact_id),
        company_size=split(company_size),
        company_group=split(company_group),
        users_from=users_from,
        users_to=users_to,
    )


FilterDep = Annotated[OpportunityFilter, Depends(opportunity_filter)]

OPPORTUNITY_COLUMNS = [
    "id",
    "contact_id",
    "contact_name",
    "title",
    "crm_status",
    "closing_probability",
    "revenue_potential",
    "currency",
    "revenue_group",
    "expected_users",
    "products",
    "campaign_ids",
    "assignee_id",
    "company_size",
    "company_group",
    "version",
    "created_at",
    "updated_at",
]


def opportunity_csv_header() -> str:
    return csv_line(OPPORTUNITY_COLUMNS)


def opportunity_csv(public: OpportunityPublic) -> str:
    """One opportunity as a CSV line (list values joined by ``;``)."""
    data = public.model_dump(mode="json")
    return csv_line(cell(data[name]) for name in OPPORTUNITY_COLUMNS)
