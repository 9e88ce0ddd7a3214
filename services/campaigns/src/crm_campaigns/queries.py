"""The opportunity filters and the CRM dashboard as SQL (one GROUP BY per dashboard).

Company facts (company size and group) come from the contact copies: for a person with
a ``company_id`` its company's facts, else the contact's own. They are copied onto each
opportunity (``org_id``, ``company_size``, ``company_group``) and refreshed by the contact
events, so the dashboard reads one table plus the link tables, never a join to contacts.

The revenue group is derived from the opportunity's ``revenue_potential`` with the
admin's ``revenue_groups`` list (first group in list order with min <= x <= max), as a
CASE expression, so changing the list re-groups every opportunity at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from crm_campaigns.crm_schemas import CENT, CrmSettingsData
from crm_campaigns.models import (
    Opportunity,
    OpportunityCampaign,
    OpportunityProduct,
)
from crm_shared.errors import Unprocessable

OPP = Opportunity.__table__  # type: ignore[attr-defined]
P = OpportunityProduct.__table__.alias("p")  # type: ignore[attr-defined]
K = OpportunityCampaign.__table__.alias("k")  # type: ignore[attr-defined]

DASHBOARD_WORK_MEM = "64MB"
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


def company_size_expr() -> Any:
    return OPP.c.company_size


def company_group_expr() -> Any:
    return OPP.c.company_group


def revenue_group_expr(settings: CrmSettingsData) -> Any:
    whens = []
    for group in settings.revenue_groups:
        condition = OPP.c.revenue_cents >= int(group.min * 100)
        if group.max is not None:
            condition = sa.and_(condition, OPP.c.revenue_cents <= int(group.max * 100))
        whens.append((condition, sa.literal(group.name)))
    if not whens:
        return sa.null()
    return sa.case(*whens, else_=sa.null())


def conditions(flt: OpportunityFilter, settings: CrmSettingsData) -> list[Any]:
    where: list[Any] = []
    if flt.crm_status:
        where.append(OPP.c.crm_status.in_(flt.crm_status))
    if flt.assignee_id:
        where.append(OPP.c.assignee_id.in_(flt.assignee_id))
    if flt.revenue_group:
        ranges = []
        for group in settings.revenue_groups:
            if group.name in flt.revenue_group:
                # matches the CASE above: this group and none listed before it
                ranges.append(revenue_group_expr(settings) == group.name)
        where.append(sa.or_(*ranges) if ranges else sa.false())
    if flt.contact_id:
        # a company's id also selects the opportunities of its contact persons
        where.append(sa.or_(OPP.c.contact_id.in_(flt.contact_id), OPP.c.org_id.in_(flt.contact_id)))
    if flt.company_size:
        where.append(company_size_expr().in_(flt.company_size))
    if flt.company_group:
        where.append(company_group_expr().in_(flt.company_group))
    if flt.users_from is not None:
        where.append(OPP.c.expected_users >= flt.users_from)
    if flt.users_to is not None:
        where.append(OPP.c.expected_users <= flt.users_to)
    if flt.product:
        link = OpportunityProduct.__table__  # type: ignore[attr-defined]
        where.append(
            sa.exists().where(link.c.opportunity_id == OPP.c.id, link.c.product.in_(flt.product))
        )
    if flt.campaign_id:
        link = OpportunityCampaign.__table__  # type: ignore[attr-defined]
        where.append(
            sa.exists().where(
                link.c.opportunity_id == OPP.c.id, link.c.campaign_id.in_(flt.campaign_id)
            )
        )
    return where


def opportunity_ids_page(
    flt: OpportunityFilter,
    settings: CrmSettingsData,
    *,
    after: tuple[datetime, str] | None,
    limit: int,
) -> Any:
    """Ids of one page, newest first (keyset on created_at, id)."""
    from_: Any = OPP
    query = (
        sa.select(OPP.c.id, OPP.c.created_at).select_from(from_).where(*conditions(flt, settings))
    )
    if after is not None:
        at, ident = after
        query = query.where(
            sa.or_(OPP.c.created_at < at, sa.and_(OPP.c.created_at == at, OPP.c.id < ident))
        )
    return query.order_by(OPP.c.created_at.desc(), OPP.c.id.desc()).limit(limit)


def parse_group_by(raw: str | None) -> list[str]:
    fields = [f.strip() for f in (raw or "").split(",") if f.strip()]
    for name in fields:
        if name not in GROUPABLE:
            raise Unprocessable("group_by", f"cannot group by {name!r}; use {', '.join(GROUPABLE)}")
    if len(set(fields)) != len(fields):
        raise Unprocessable("group_by", "a field appears twice")
    return fields


def dashboard_query(flt: OpportunityFilter, settings: CrmSettingsData, group_by: list[str]) -> Any:
    """One GROUP BY: count, summed and probability-weighted revenue per group.

    A multi-valued field (product, campaign) joins its link table, so an opportunity counts
    once in each of its groups; one without any lands in the group whose key is null.
    """
    from_: Any = OPP
    if "product" in group_by:
        from_ = from_.outerjoin(P, P.c.opportunity_id == OPP.c.id)
    if "campaign" in group_by:
        from_ = from_.outerjoin(K, K.c.opportunity_id == OPP.c.id)
    keys = {
        "crm_status": OPP.c.crm_status,
        "contact": OPP.c.contact_id,
        "company_size": company_size_expr(),
        "revenue_group": revenue_group_expr(settings),
        "company_group": company_group_expr(),
        "product": P.c.product,
        "campaign": K.c.campaign_id,
        "assignee": OPP.c.assignee_id,
    }
    columns = [keys[name].label(f"k{i}") for i, name in enumerate(group_by)]
    query = sa.select(
        *columns,
        sa.func.count().label("count"),
        # integer cents: exact on every database, and fast
        sa.func.coalesce(sa.func.sum(OPP.c.revenue_cents), 0).label("revenue"),
        sa.func.coalesce(sa.func.sum(OPP.c.revenue_cents * OPP.c.closing_probability), 0).label(
            "weighted"
        ),
    ).select_from(from_)
    query = query.where(*conditions(flt, settings))
    if columns:
        positions: list[Any] = [sa.literal_column(str(i + 1)) for i in range(len(columns))]
        query = query.group_by(*positions).order_by(*[p.asc().nulls_last() for p in positions])
    return query


def from_cents(value: Any, divisor: int = 1) -> Decimal:
    """An integer sum of cents (times ``divisor``) as euros, rounded half-up to the cent."""
    return (Decimal(int(value or 0)) / (100 * divisor)).quantize(CENT, rounding=ROUND_HALF_UP)


async def run_dashboard(
    session: AsyncSession, flt: OpportunityFilter, settings: CrmSettingsData, group_by: list[str]
) -> list[dict[str, Any]]:
    if session.get_bind().dialect.name == "postgresql":
        # room for the hash aggregate over every opportunity; with the default 4 MB a
        # three-level grouping spills a sort of 200,000 rows to disk (seconds, not ms)
        await session.execute(sa.text(f"SET LOCAL work_mem = '{DASHBOARD_WORK_MEM}'"))
    rows = (await session.execute(dashboard_query(flt, settings, group_by))).all()
    return [
        {
            "key": {name: row[i] for i, name in enumerate(group_by)},
            "count": row.count,
            "revenue_potential": from_cents(row.revenue),
            "weighted_revenue": from_cents(row.weighted, divisor=100),
        }
        for row in rows
    ]
