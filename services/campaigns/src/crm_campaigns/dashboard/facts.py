"""The dashboard's fact table: one narrow row of integer codes per opportunity.

The CRM dashboard aggregates every opportunity on each request. Grouping 200,000 wide
rows by text keys (UUIDs, status names) cost PostgreSQL 0.1 to 0.7 s; the same aggregate
over a narrow table of small integer codes, with the multi-valued fields as arrays of
codes, takes a fraction of that (see ``bench/dashboard.py``). So the service keeps,
in the same transaction as every change of an opportunity or of a company's facts:

- ``dashboard_code``: one integer per (field, value) ever seen — ``crm_status``,
  ``contact``, ``company_size``, ``company_group``, ``assignee``, ``product``,
  ``campaign``. Codes are never changed or reused, so a process may cache them.
- ``opportunity_fact``: per opportunity its codes, ``revenue_group`` as the 1-based
  position in the admin's list (re-derived for all rows when the admin changes it),
  ``expected_users``, revenue in cents and revenue times probability.

The opportunity table stays the source of truth: :func:`sync_facts` rewrites the facts
of given opportunities from it, and :func:`fill_missing_facts` (run at start) writes the
facts of opportunities that have none, e.g. after the upgrade that introduced them.

This module is the one writer of the facts: the opportunities service calls
:func:`sync_facts` and :func:`delete_facts` for every change, the CRM settings service
:func:`regroup_revenue` for a new revenue-group list.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from crm_campaigns.crm_settings.repository import CrmSettingsRepository
from crm_campaigns.crm_settings.revenue_groups import revenue_group_case, revenue_group_index
from crm_campaigns.crm_settings.schemas import CrmSettingsData
from crm_campaigns.models import DashboardCode, Opportunity, OpportunityFact
from crm_shared.after_commit import transaction_state
from crm_shared.db import dialect_insert, table_of

log = logging.getLogger(__name__)

CODE = table_of(DashboardCode)
FACT = table_of(OpportunityFact)
OPP = table_of(Opportunity)

# opportunity column -> code field; products and campaign_ids are lists
SCALAR_FIELDS = {
    "crm_status": "crm_status",
    "contact_id": "contact",
    "org_id": "contact",  # a company is a contact: one code space for both
    "company_size": "company_size",
    "company_group": "company_group",
    "assignee_id": "assignee",
}
LIST_FIELDS = {"products": "product", "campaign_ids": "campaign"}

_CHUNK = 2000
_NEW_CODES = "crm_campaigns.new_dashboard_codes"  # codes this transaction created


class CodeBook:
    """(field, value) <-> code for one database, cached in this process.

    Only codes read back from committed rows are cached: a code inserted by a
    transaction that then rolls back must not outlive it."""

    _books: ClassVar[dict[str, CodeBook]] = {}

    def __init__(self) -> None:
        self.codes: dict[tuple[str, str], int] = {}
        self.values: dict[int, tuple[str, str]] = {}

    @classmethod
    def of(cls, session: AsyncSession) -> CodeBook:
        bind = session.get_bind()
        key = str(bind.engine.url) if isinstance(bind, sa.Connection) else str(bind.url)
        book = cls._books.get(key)
        if book is None:
            book = cls._books[key] = cls()
        return book

    def _remember(self, session: AsyncSession, rows: Iterable[Any]) -> dict[tuple[str, str], int]:
        """Codes from a query; cached unless this transaction created them."""
        if len(self.values) > 500_000:  # contacts grow without bound; start over
            self.codes.clear()
            self.values.clear()
        created: dict[tuple[str, str], int] = transaction_state(session, _NEW_CODES, dict)
        found = {}
        for code, field, value in rows:
            found[(field, value)] = code
            if (field, value) not in created:
                self.codes[(field, value)] = code
                self.values[code] = (field, value)
        return found

    async def _select(
        self, session: AsyncSession, column: Any, keys: Sequence[Any], *where: Any
    ) -> dict[tuple[str, str], int]:
        """Code rows whose ``column`` is one of ``keys`` (in chunks), remembered."""
        found = {}
        for start in range(0, len(keys), _CHUNK):
            rows = await session.execute(
                sa.select(CODE.c.code, CODE.c.field, CODE.c.value).where(
                    *where, column.in_(keys[start : start + _CHUNK])
                )
            )
            found.update(self._remember(session, rows))
        return found

    async def _lookup(
        self, session: AsyncSession, field: str, values: Sequence[str]
    ) -> dict[tuple[str, str], int]:
        return await self._select(session, CODE.c.value, values, CODE.c.field == field)

    async def known(
        self, session: AsyncSession, field: str, values: Iterable[str]
    ) -> dict[str, int]:
        """Codes of the values that have one (no writes): for filters."""
        wanted = set(values)
        codes = {v: self.codes[(field, v)] for v in wanted if (field, v) in self.codes}
        missing = sorted(wanted - codes.keys())
        if missing:
            codes.update(
                {v: c for (_, v), c in (await self._lookup(session, field, missing)).items()}
            )
        return codes

    async def codes_for(
        self, session: AsyncSession, pairs: set[tuple[str, str]]
    ) -> dict[tuple[str, str], int]:
        """Codes for (field, value) pairs, created when new (in the caller's transaction).

        New pairs are inserted straight away (``ON CONFLICT DO NOTHING``, which the unique
        index decides); only the ones that existed are looked up. Codes this transaction
        created are its own until it ends (``transaction_state``), never in the
        process-wide cache."""
        created: dict[tuple[str, str], int] = transaction_state(session, _NEW_CODES, dict)
        found = {
            pair: self.codes.get(pair) or created[pair]
            for pair in pairs
            if pair in self.codes or pair in created
        }
        new = sorted(pairs - found.keys())
        for start in range(0, len(new), _CHUNK):
            rows = [{"field": f, "value": v} for f, v in new[start : start + _CHUNK]]
            inserted = await session.execute(
                dialect_insert(session, CODE)
                .values(rows)
                .on_conflict_do_nothing()
                .returning(CODE.c.code, CODE.c.field, CODE.c.value)
            )
            for code, field, value in inserted:
                created[(field, value)] = found[(field, value)] = code
        existed = sorted(pairs - found.keys())
        for field in sorted({f for f, _ in existed}):
            values = [v for f, v in existed if f == field]
            found.update(await self._lookup(session, field, values))
        return found

    async def decode(self, session: AsyncSession, codes: Iterable[int]) -> dict[int, str]:
        """Values of codes (for the dashboard's result keys)."""
        wanted = set(codes)
        missing = sorted(c for c in wanted if c not in self.values)
        decoded = {c: self.values[c][1] for c in wanted if c in self.values}
        found = await self._select(session, CODE.c.code, missing)
        decoded.update({c: v for (_, v), c in found.items()})
        return decoded


async def regroup_revenue(session: AsyncSession, settings: CrmSettingsData) -> None:
    """After the admin changed the revenue groups: every fact gets its new group (the
    caller holds the settings lock exclusively: ``CrmSettingsRepository.hold``)."""
    await session.execute(
        sa.update(FACT).values(revenue_group=revenue_group_case(settings, FACT.c.revenue_cents))
    )


_COLUMNS = (
    OPP.c.id,
    OPP.c.contact_id,
    OPP.c.org_id,
    OPP.c.crm_status,
    OPP.c.company_size,
    OPP.c.company_group,
    OPP.c.assignee_id,
    OPP.c.expected_users,
    OPP.c.revenue_cents,
    OPP.c.closing_probability,
    OPP.c.products,
    OPP.c.campaign_ids,
)


async def _write(session: AsyncSession, rows: Sequence[Any], settings: CrmSettingsData) -> None:
    book = CodeBook.of(session)
    pairs: set[tuple[str, str]] = set()
    for row in rows:
        for column, field in SCALAR_FIELDS.items():
            if (value := getattr(row, column)) is not None:
                pairs.add((field, value))
        for column, field in LIST_FIELDS.items():
            pairs.update((field, v) for v in getattr(row, column) or [])
    codes = await book.codes_for(session, pairs)

    def code(field: str, value: str | None) -> int | None:
        return None if value is None else codes[(field, value)]

    facts = [
        {
            "opportunity_id": row.id,
            **{
                column: code(field, getattr(row, column)) for column, field in SCALAR_FIELDS.items()
            },
            "revenue_group": revenue_group_index(settings, row.revenue_cents),
            "expected_users": row.expected_users,
            "revenue_cents": row.revenue_cents,
            "weighted_cents": row.revenue_cents * row.closing_probability,
            "products": sorted(codes[("product", v)] for v in row.products or []),
            "campaign_ids": sorted(codes[("campaign", v)] for v in row.campaign_ids or []),
        }
        for row in rows
    ]
    if facts:
        await session.execute(sa.insert(FACT), facts)


async def delete_facts(session: AsyncSession, opportunity_id: str) -> None:
    """An opportunity that goes takes its facts along."""
    await session.execute(sa.delete(FACT).where(FACT.c.opportunity_id == opportunity_id))


async def sync_facts(session: AsyncSession, opportunity_ids: Iterable[str]) -> None:
    """Rewrite the facts of these opportunities from their rows (gone ones: no fact)."""
    ids = sorted(set(opportunity_ids))
    if not ids:
        return
    await session.flush()  # pending ORM changes of the opportunities first
    lists = CrmSettingsRepository(session)
    await lists.hold()
    settings = await lists.current()  # read under the lock: the current list
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        await session.execute(sa.delete(FACT).where(FACT.c.opportunity_id.in_(chunk)))
        rows = (await session.execute(sa.select(*_COLUMNS).where(OPP.c.id.in_(chunk)))).all()
        await _write(session, rows, settings)


async def fill_missing_facts(session: AsyncSession) -> int:
    """Write the facts of every opportunity that has none; returns how many."""
    lists = CrmSettingsRepository(session)
    await lists.hold()
    settings = await lists.current()
    done, last = 0, ""
    while True:  # keyset over the opportunities, so each step costs the same
        chunk = list(
            await session.scalars(
                sa.select(OPP.c.id).where(OPP.c.id > last).order_by(OPP.c.id).limit(_CHUNK)
            )
        )
        if not chunk:
            return done
        last = chunk[-1]
        query = sa.select(*_COLUMNS).where(
            OPP.c.id.in_(chunk), ~sa.exists().where(FACT.c.opportunity_id == OPP.c.id)
        )
        rows = (await session.execute(query)).all()
        await _write(session, rows, settings)
        done += len(rows)
        if rows and done % 50_000 < len(rows):
            log.info("dashboard facts written for %d opportunities", done)
