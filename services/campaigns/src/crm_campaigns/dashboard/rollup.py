"""The dashboard's totals per combination of codes (PostgreSQL).

The fact table has one row per opportunity (crm_campaigns.dashboard.facts); a dashboard grouped by
company group, revenue group and assignee had to hash 200,000 of them, which took most
of the 100 ms the dashboard may take. Most dashboard questions only name the scalar
fields, so their answer can come from totals per combination of those codes instead:
``opportunity_rollup`` holds count, revenue and weighted revenue per key
(crm status, company size, company group, assignee, revenue group) on three axes:
axis 0 counts every opportunity once, axis 1 once per product, axis 2 once per campaign
(so product and campaign groupings count as the fact table does). A code of 0 means
"none". (Figures: the service README.)

How the totals stay exact without making writers wait for each other:

- A statement-level trigger on ``opportunity_fact`` (the migration ``dashboard rollup``)
  turns every INSERT, UPDATE and DELETE of facts, whatever wrote them (an opportunity's
  change, a company's facts, a new revenue-group list, a cascade delete), into signed
  totals and *appends* them to ``opportunity_rollup_delta`` in the writer's
  transaction. Appending locks no shared row, so two writers never block or deadlock on
  a total.
- :func:`compact` folds the delta into ``opportunity_rollup`` (one statement moves the
  rows: ``DELETE … RETURNING`` feeding an upsert), under a try-lock so one compactor
  runs at a time; :class:`Compactor` does that every few seconds in the service (a
  background task of ``CampaignsDeps``).
- The dashboard reads ``rollup UNION ALL delta`` in one statement, so it sees one
  snapshot of both: exact at any moment, however far behind the compactor is.

SQLite (the embedded default, small offices) reads the facts directly.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from crm_campaigns.models import OpportunityRollup, OpportunityRollupDelta
from crm_shared.db import Database, table_of

log = logging.getLogger(__name__)

ROLLUP = table_of(OpportunityRollup)
DELTA = table_of(OpportunityRollupDelta)

KEYS = ("crm_status", "company_size", "company_group", "assignee_id", "revenue_group")
"""The scalar codes the totals are kept by: the columns of the fact table they come from."""
GROUPS = {
    "crm_status": "crm_status",
    "company_size": "company_size",
    "company_group": "company_group",
    "assignee": "assignee_id",
    "revenue_group": "revenue_group",
}
"""Scalar groupings the totals answer, and their column."""
AXES = {"product": 1, "campaign": 2}
"""Multi-valued groupings and their axis (scalar groupings read axis 0)."""

_COMPACT_LOCK = 0x43524D524F4C  # "CRMROL"
_TOTALS = ("n", "revenue_cents", "weighted_cents")


def serves(group_by: list[str], filtered: set[str], dialect: str) -> bool:
    """Whether the totals answer a dashboard grouped by ``group_by`` and filtered on the
    fact columns ``filtered``: only scalar filters, and at most one multi-valued
    grouping (PostgreSQL only)."""
    return (
        dialect == "postgresql"
        and sum(g in AXES for g in group_by) <= 1
        and all(g in AXES or g in GROUPS for g in group_by)
        and filtered <= set(KEYS)
    )


def totals(group_by: list[str]) -> Any:
    """The totals of the axis this grouping needs, folded and not yet folded: one
    subquery with the columns ``item``, the keys and the totals."""
    axis = next((AXES[g] for g in group_by if g in AXES), 0)
    columns = ("item", *KEYS, *_TOTALS)
    parts = [
        sa.select(*[table.c[name] for name in columns]).where(table.c.axis == axis)
        for table in (ROLLUP, DELTA)
    ]
    return sa.union_all(*parts).subquery("totals")


_KEY = ", ".join(("axis", "item", *KEYS))
_FOLD = sa.text(
    f"""
    WITH moved AS (
        DELETE FROM opportunity_rollup_delta RETURNING {_KEY}, {", ".join(_TOTALS)}
    ), folded AS (
        SELECT {_KEY}, {", ".join(f"sum({t}) AS {t}" for t in _TOTALS)}, count(*) AS rows
        FROM moved GROUP BY {_KEY} ORDER BY {_KEY}
    ), upsert AS (
        INSERT INTO opportunity_rollup AS r ({_KEY}, {", ".join(_TOTALS)})
        SELECT {_KEY}, {", ".join(_TOTALS)} FROM folded ORDER BY {_KEY}
        ON CONFLICT ON CONSTRAINT pk_opportunity_rollup DO UPDATE SET
            {", ".join(f"{t} = r.{t} + excluded.{t}" for t in _TOTALS)}
    )
    SELECT coalesce(sum(rows), 0) FROM folded
    """  # noqa: S608 - column names only
)


async def compact(session: AsyncSession) -> int | None:
    """Fold the delta into the totals in one statement; how many delta rows it folded,
    or None when another compactor holds the lock. Commit is the caller's.

    Delta rows a writer has not committed yet are not seen, so they stay for the next
    round; keys whose count came down to 0 are removed."""
    locked = await session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(_COMPACT_LOCK)))
    if not locked:
        return None
    folded = int(await session.scalar(_FOLD) or 0)
    if folded:
        await session.execute(sa.delete(ROLLUP).where(ROLLUP.c.n == 0))
    return folded


class Compactor:
    """Folds the delta: :meth:`once`, or every ``seconds`` in :meth:`run`."""

    def __init__(self, db: Database, seconds: float) -> None:
        self._db = db
        self._seconds = seconds

    async def once(self) -> int | None:
        async with self._db.unit_of_work() as session:
            return await compact(session)

    async def run(self) -> None:
        """Fold every ``seconds`` until cancelled."""
        while True:
            await asyncio.sleep(self._seconds)
            try:
                await self.once()
            except Exception:  # the next round tries again; the dashboard stays exact
                log.exception("could not fold the dashboard totals")
