"""API models of opportunities, the CRM settings and the dashboard."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, model_validator

from crm_shared.errors import Unprocessable

CENT = Decimal("0.01")


def money_str(value: Decimal) -> str:
    return str(Decimal(value).quantize(CENT))


# Decimal in, "12500.00" out (numbers and strings are both accepted on input)
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=14, decimal_places=2),
    PlainSerializer(money_str, return_type=str, when_used="json"),
]
MoneyOut = Annotated[Decimal, PlainSerializer(money_str, return_type=str, when_used="json")]
ListValue = Annotated[str, Field(min_length=1, max_length=200)]


class EmployeeRange(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: ListValue
    min: int = Field(ge=0)
    max: int | None = Field(default=None, ge=0, description="null: no upper bound")


class RevenueRange(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: ListValue
    min: Money
    max: Money | None = Field(default=None, description="null: no upper bound")


def _unique(field: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise Unprocessable(field, f"{name!r} appears twice")
        seen.add(name)


class CrmSettingsData(BaseModel):
    """The admin lists of seed 003. Values outside them are refused on opportunities."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    opportunity_statuses: list[ListValue] = Field(min_length=1, max_length=200)
    partner_statuses: list[ListValue] = Field(default_factory=list, max_length=200)
    company_sizes: list[EmployeeRange] = Field(default_factory=list, max_length=100)
    revenue_groups: list[RevenueRange] = Field(default_factory=list, max_length=100)
    company_groups: list[ListValue] = Field(default_factory=list, max_length=500)
    products: list[ListValue] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for field in ("opportunity_statuses", "partner_statuses", "company_groups", "products"):
            _unique(field, getattr(self, field))
        _unique("company_sizes", [r.name for r in self.company_sizes])
        _unique("revenue_groups", [r.name for r in self.revenue_groups])
        for i, size in enumerate(self.company_sizes):
            if size.max is not None and size.max < size.min:
                raise Unprocessable(f"company_sizes.{i}.max", "must not be below min")
        for i, group in enumerate(self.revenue_groups):
            if group.max is not None and group.max < group.min:
                raise Unprocessable(f"revenue_groups.{i}.max", "must not be below min")
        return self

    def revenue_group_of(self, amount: Decimal) -> str | None:
        """The first revenue group (in list order) with min <= amount <= max."""
        for group in self.revenue_groups:
            if group.min <= amount and (group.max is None or amount <= group.max):
                return group.name
        return None


DEFAULT_SETTINGS = CrmSettingsData(
    opportunity_statuses=[
        "Bedarf ermittelt",
        "Informationen zugesandt",
        "Angebot erstellt",
        "Verhandlung",
        "Gewonnen",
        "Verloren",
    ],
    partner_statuses=["Interessent", "Kunde", "Partner", "Inaktiv"],
    company_sizes=[
        EmployeeRange(name="1-9", min=1, max=9),
        EmployeeRange(name="10-49", min=10, max=49),
        EmployeeRange(name="50-249", min=50, max=249),
        EmployeeRange(name="250+", min=250, max=None),
    ],
    revenue_groups=[
        RevenueRange(name="klein", min=Decimal("0"), max=Decimal("9999.99")),
        RevenueRange(name="mittel", min=Decimal("10000"), max=Decimal("49999.99")),
        RevenueRange(name="groß", min=Decimal("50000"), max=Decimal("249999.99")),
        RevenueRange(name="sehr groß", min=Decimal("250000"), max=None),
    ],
    company_groups=["Handel", "Handwerk", "Industrie", "Dienstleistung", "Öffentlicher Dienst"],
    products=["CRM Cloud", "CRM On-Premise", "Support", "Schulung"],
)


class OpportunityCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    contact_id: str = Field(min_length=1, max_length=36)
    title: str = Field(min_length=1, max_length=300)
    crm_status: str = Field(min_length=1, max_length=100)
    closing_probability: int = Field(ge=0, le=100)
    revenue_potential: Money
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    expected_users: int | None = Field(default=None, ge=0)
    campaign_ids: list[str] = Field(default_factory=list, max_length=100)
    products: list[ListValue] = Field(default_factory=list, max_length=100)
    assignee_id: str | None = Field(default=None, max_length=36)


class OpportunityUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    contact_id: str | None = Field(default=None, min_length=1, max_length=36)
    title: str | None = Field(default=None, min_length=1, max_length=300)
    crm_status: str | None = Field(default=None, min_length=1, max_length=100)
    closing_probability: int | None = Field(default=None, ge=0, le=100)
    revenue_potential: Money | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    expected_users: int | None = Field(default=None, ge=0)
    campaign_ids: list[str] | None = Field(default=None, max_length=100)
    products: list[ListValue] | None = Field(default=None, max_length=100)
    assignee_id: str | None = Field(default=None, max_length=36)

    @model_validator(mode="after")
    def _no_nulls(self) -> Self:
        nullable = {"expected_users", "assignee_id"}
        for name in self.model_fields_set - nullable:
            if getattr(self, name) is None:
                raise Unprocessable(name, "must not be null")
        return self


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


class OpportunityPage(BaseModel):
    items: list[OpportunityPublic]
    next_cursor: str | None


class DashboardGroup(BaseModel):
    key: dict[str, Any]
    count: int
    revenue_potential: MoneyOut
    weighted_revenue: MoneyOut


class Dashboard(BaseModel):
    group_by: list[str]
    groups: list[DashboardGroup]
    names: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="display names of the ids in the keys: {contact: {id: name}, "
        "campaign: {id: name}} (only for the fields grouped by)",
    )
