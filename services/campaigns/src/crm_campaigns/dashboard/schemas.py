"""API models of the CRM dashboard, the grouping fields, and the mappers from the computed
groups to the answer and to CSV."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, Field

from crm_campaigns.money import MoneyOut, money_str
from crm_shared.csv_export import cell, csv_line
from crm_shared.errors import Unprocessable

GROUPABLE = (
    "crm_status",
    "contact",
    "company_size",
    "revenue_group",
    "company_group",
    "product",
    "campaign",
    "assignee",
)
GroupBy = Annotated[
    str | None,
    Query(
        description="comma-separated, in order: crm_status, contact, company_size, "
        "revenue_group, company_group, product, campaign, assignee"
    ),
]


def parse_group_by(raw: str | None) -> list[str]:
    fields = [f.strip() for f in (raw or "").split(",") if f.strip()]
    for name in fields:
        if name not in GROUPABLE:
            raise Unprocessable("group_by", f"cannot group by {name!r}; use {', '.join(GROUPABLE)}")
    if len(set(fields)) != len(fields):
        raise Unprocessable("group_by", "a field appears twice")
    return fields


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

    @classmethod
    def of(
        cls,
        group_by: list[str],
        groups: list[dict[str, Any]],
        names: dict[str, dict[str, str]],
    ) -> Dashboard:
        return cls(group_by=group_by, groups=[DashboardGroup(**g) for g in groups], names=names)


def dashboard_csv(group_by: list[str], groups: list[dict[str, Any]]) -> Iterator[str]:
    """The groups as CSV: one column per grouping field, then the figures."""
    yield csv_line([*group_by, "count", "revenue_potential", "weighted_revenue"])
    for g in groups:
        yield csv_line(
            [
                *(cell(g["key"][f]) for f in group_by),
                g["count"],
                money_str(g["revenue_potential"]),
                money_str(g["weighted_revenue"]),
            ]
        )
