"""The CRM dashboard as SQL: filters translated to codes, one GROUP BY over the fact table
(crm_campaigns.dashboard.facts) or the totals (crm_campaigns.dashboard.rollup), the
result codes decoded, the groups sorted; and the names of the ids in the keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from crm_campaigns.crm_settings.schemas import CrmSettingsData
from crm_campaigns.dashboard import rollup
from crm_campaigns.dashboard.facts import FACT, CodeBook
from crm_campaigns.models import Campaign, ContactCopy
from crm_campaigns.money import from_cents
from crm_campaigns.opportunities.schemas import OpportunityFilter
from crm_shared.db import table_of

DASHBOARD_WORK_MEM = "64MB"


@dataclass
class DashboardPlan:
    """A dashboard statement and what its key columns hold (for decoding the rows)."""

    statement: Any
    group_by: list[str]
    matches_nothing: bool = False


def _explode(column: Any, name: str, dialect: str) -> tuple[Any, Any]:
    """The codes of a list column as a table (one row per code) for a lateral join, and
    its code column."""
    if dialect == "postgresql":
        each = sa.func.unnest(column).table_valued("code").render_derived(name=name).lateral()
        return each, each.c.code
    each = sa.func.json_each(column).table_valued("value", name=name)
    return each, each.c.value


def _contains_any(column: Any, codes: list[int], dialect: str) -> Any:
    if dialect == "postgresql":
        return column.op("&&")(sa.literal(codes, postgresql.ARRAY(sa.Integer)))
    each = sa.func.json_each(column).table_valued("value")
    return sa.exists(sa.select(sa.literal(1)).select_from(each).where(each.c.value.in_(codes)))


async def dashboard_plan(
    session: AsyncSession,
    flt: OpportunityFilter,
    settings: CrmSettingsData,
    group_by: list[str],
    *,
    totals: bool = True,
) -> DashboardPlan:
    """One GROUP BY: count, summed and probability-weighted revenue per group.

    A multi-valued field (product, campaign) is unnested, so an opportunity counts once in
    each of its groups; one without any lands in the group whose key is null. Filters are
    translated to codes first; a value no opportunity ever had matches nothing.

    The question is answered from the totals per code combination (``rollup``) when they
    can (PostgreSQL; scalar filters; at most one multi-valued grouping; not with
    ``totals=False``), else from the fact table, one row per opportunity (``facts``).
    """
    dialect = session.get_bind().dialect.name
    book = CodeBook.of(session)
    nothing = False

    async def codes(field: str, values: list[str]) -> list[int]:
        nonlocal nothing
        found = sorted((await book.known(session, field, values)).values())
        nothing = nothing or not found
        return found

    # fact column -> the codes it must be one of
    scalar: dict[str, list[int]] = {}
    for column, code_field, values in (
        ("crm_status", "crm_status", flt.crm_status),
        ("assignee_id", "assignee", flt.assignee_id),
        ("company_size", "company_size", flt.company_size),
        ("company_group", "company_group", flt.company_group),
    ):
        if values:
            scalar[column] = await codes(code_field, values)
    if flt.revenue_group:
        positions = [
            i for i, g in enumerate(settings.revenue_groups, start=1) if g.name in flt.revenue_group
        ]
        nothing = nothing or not positions
        scalar["revenue_group"] = positions
    # every fact column a filter reads: the totals keep only the scalar ones
    filtered = set(scalar) | {
        column
        for column, used in (
            ("contact_id", flt.contact_id),
            ("expected_users", flt.users_from is not None or flt.users_to is not None),
            ("products", flt.product),
            ("campaign_ids", flt.campaign_id),
        )
        if used
    }
    if totals and rollup.serves(group_by, filtered, dialect):
        source = rollup.totals(group_by)
        keys = {name: sa.func.nullif(source.c[column], 0) for name, column in rollup.GROUPS.items()}
        keys.update({name: sa.func.nullif(source.c.item, 0) for name in rollup.AXES})
        columns = [keys[name].label(f"k{i}") for i, name in enumerate(group_by)]
        statement = (
            sa.select(
                *columns,
                sa.cast(sa.func.sum(source.c.n), sa.BigInteger).label("count"),
                sa.func.coalesce(sa.func.sum(source.c.revenue_cents), 0).label("revenue"),
                sa.func.coalesce(sa.func.sum(source.c.weighted_cents), 0).label("weighted"),
            )
            .where(*[source.c[column].in_(values) for column, values in scalar.items()])
            .having(sa.func.sum(source.c.n) > 0)
        )
        return _grouped(statement, columns, group_by, nothing)

    where: list[Any] = [FACT.c[column].in_(values) for column, values in scalar.items()]
    if flt.contact_id:
        # a company's id also selects the opportunities of its contact persons
        ids = await codes("contact", flt.contact_id)
        where.append(sa.or_(FACT.c.contact_id.in_(ids), FACT.c.org_id.in_(ids)))
    if flt.users_from is not None:
        where.append(FACT.c.expected_users >= flt.users_from)
    if flt.users_to is not None:
        where.append(FACT.c.expected_users <= flt.users_to)
    if flt.product:
        where.append(_contains_any(FACT.c.products, await codes("product", flt.product), dialect))
    if flt.campaign_id:
        where.append(
            _contains_any(FACT.c.campaign_ids, await codes("campaign", flt.campaign_id), dialect)
        )

    from_: Any = FACT
    fact_keys: dict[str, Any] = {
        "crm_status": FACT.c.crm_status,
        "contact": FACT.c.contact_id,
        "company_size": FACT.c.company_size,
        "revenue_group": FACT.c.revenue_group,
        "company_group": FACT.c.company_group,
        "assignee": FACT.c.assignee_id,
    }
    for name, list_column in (("product", FACT.c.products), ("campaign", FACT.c.campaign_ids)):
        if name in group_by:
            each, code = _explode(list_column, name, dialect)
            from_ = from_.outerjoin(each, sa.true())
            fact_keys[name] = code
    columns = [fact_keys[name].label(f"k{i}") for i, name in enumerate(group_by)]
    statement = (
        sa.select(
            *columns,
            sa.func.count().label("count"),
            sa.func.coalesce(sa.func.sum(FACT.c.revenue_cents), 0).label("revenue"),
            sa.func.coalesce(sa.func.sum(FACT.c.weighted_cents), 0).label("weighted"),
        )
        .select_from(from_)
        .where(*where)
    )
    return _grouped(statement, columns, group_by, nothing)


def _grouped(
    statement: Any, columns: list[Any], group_by: list[str], nothing: bool
) -> DashboardPlan:
    if columns:
        statement = statement.group_by(
            *[sa.literal_column(str(i + 1)) for i in range(len(columns))]
        )
    return DashboardPlan(statement=statement, group_by=group_by, matches_nothing=nothing)


async def run_dashboard(
    session: AsyncSession,
    flt: OpportunityFilter,
    settings: CrmSettingsData,
    group_by: list[str],
    *,
    totals: bool = True,
) -> list[dict[str, Any]]:
    """The dashboard's groups, ordered by their keys (text in code-point order, revenue
    groups in list order, nulls last); ``totals=False`` always reads the fact table."""
    plan = await dashboard_plan(session, flt, settings, group_by, totals=totals)
    if plan.matches_nothing:
        rows: list[Any] = []
    else:
        if session.get_bind().dialect.name == "postgresql":
            # room for the hash aggregate (a contact grouping has one group per contact);
            # no JIT: compiling costs more than the whole aggregate over the facts
            await session.execute(sa.text(f"SET LOCAL work_mem = '{DASHBOARD_WORK_MEM}'"))
            await session.execute(sa.text("SET LOCAL jit = off"))
        rows = list((await session.execute(plan.statement)).all())
    if not group_by and not rows:
        rows = [(0, 0, 0)]
    coded = [i for i, name in enumerate(group_by) if name != "revenue_group"]
    values = await CodeBook.of(session).decode(
        session, {row[i] for row in rows for i in coded if row[i] is not None}
    )
    names = [g.name for g in settings.revenue_groups]

    def label(i: int, code: Any) -> Any:
        if code is None:
            return None
        if group_by[i] == "revenue_group":
            return names[code - 1] if 0 < code <= len(names) else None
        return values[code]

    def order(i: int, code: Any) -> tuple[int, Any]:
        if code is None:
            return (1, "")
        return (0, code if group_by[i] == "revenue_group" else values[code])

    rows.sort(key=lambda row: [order(i, row[i]) for i in range(len(group_by))])
    n = len(group_by)
    return [
        {
            "key": {name: label(i, row[i]) for i, name in enumerate(group_by)},
            "count": row[n],
            "revenue_potential": from_cents(row[n + 1]),
            "weighted_revenue": from_cents(row[n + 2], divisor=100),
        }
        for row in rows
    ]


async def key_names(
    session: AsyncSession, group_by: list[str], groups: list[dict[str, Any]]
) -> dict[str, dict[str, str]]:
    """The names of the contacts and campaigns the groups' keys name by id, so a client
    can label the groups without a call per id."""
    names: dict[str, dict[str, str]] = {}
    tables: tuple[tuple[str, sa.Table, str], ...] = (
        ("contact", table_of(ContactCopy), "contact_id"),
        ("campaign", table_of(Campaign), "id"),
    )
    for field_name, table, id_name in tables:
        if field_name not in group_by:
            continue
        ids = sorted({g["key"][field_name] for g in groups if g["key"][field_name] is not None})
        found: dict[str, str] = {}
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            query = sa.select(table.c[id_name], table.c.name).where(table.c[id_name].in_(chunk))
            found.update({str(i): str(n) for i, n in (await session.execute(query)).all()})
        names[field_name] = found
    return names
