"""API models of the CRM admin lists (seed 003), their defaults, and the mapper from the
stored row."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crm_campaigns.models import CrmSettings
from crm_campaigns.money import Money
from crm_shared.errors import Unprocessable
from crm_shared.fields import Count, PlainText

ListValue = Annotated[PlainText, Field(min_length=1, max_length=200)]


class EmployeeRange(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: ListValue
    min: Count
    max: Count | None = Field(default=None, description="null: no upper bound")


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


def settings_of(row: CrmSettings | None) -> CrmSettingsData:
    """The lists a stored row holds; the defaults until an admin saves."""
    if row is None:
        return DEFAULT_SETTINGS
    return CrmSettingsData.model_validate(row.data)
