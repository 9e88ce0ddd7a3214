"""Queries of opportunities: their rows and links, the list's filters as SQL, and the
company facts copied onto them. Add and flush, never commit.

The list reads the opportunity table: company facts (company size and group) come from
the contact copies — for a person with a ``company_id`` its company's facts, else the
contact's own — and are copied onto each opportunity (``org_id``, ``company_size``,
``company_group``), refreshed by the contact events, so no join to contacts is needed.
The revenue group is derived from ``revenue_cents`` with the admin's ``revenue_groups``
list. (The dashboard reads its fact table instead: ``crm_campaigns.dashboard``.)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crm_campaigns.crm_settings.revenue_groups import revenue_group_case
from crm_campaigns.crm_settings.schemas import CrmSettingsData
from crm_campaigns.models import (
    ContactCopy,
    Opportunity,
    OpportunityCampaign,
    OpportunityProduct,
)
from crm_campaigns.opportunities.schemas import OpportunityFilter
from crm_shared.db import table_of

OPP = table_of(Opportunity)


class OpportunityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, opportunity: Opportunity) -> None:
        self._session.add(opportunity)

    async def delete(self, opportunity: Opportunity) -> None:
        await self._session.delete(opportunity)

    async def flush(self) -> None:
        await self._session.flush()

    async def get(self, opportunity_id: str) -> Opportunity | None:
        return await self._session.get(Opportunity, opportunity_id)

    async def of_contact(self, contact_id: str) -> Sequence[Opportunity]:
        rows = await self._session.scalars(
            select(Opportunity).where(col(Opportunity.contact_id) == contact_id)
        )
        return rows.all()

    async def set_links(
        self, opportunity: Opportunity, products: list[str], campaign_ids: list[str]
    ) -> None:
        """The link tables the filters join, rewritten from the opportunity's lists."""
        product_link = table_of(OpportunityProduct)
        campaign_link = table_of(OpportunityCampaign)
        await self._session.execute(
            sa.delete(product_link).where(product_link.c.opportunity_id == opportunity.id)
        )
        await self._session.execute(
            sa.delete(campaign_link).where(campaign_link.c.opportunity_id == opportunity.id)
        )
        if products:
            await self._session.execute(
                sa.insert(product_link),
                [{"opportunity_id": opportunity.id, "product": p} for p in products],
            )
        if campaign_ids:
            await self._session.execute(
                sa.insert(campaign_link),
                [{"opportunity_id": opportunity.id, "campaign_id": c} for c in campaign_ids],
            )

    async def page(
        self,
        flt: OpportunityFilter,
        settings: CrmSettingsData,
        *,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Opportunity]:
        """One page, newest first (keyset on created_at, id): the ids first, then their rows."""
        ids = [
            row.id
            for row in await self._session.execute(
                _ids_page(flt, settings, after=after, limit=limit)
            )
        ]
        if not ids:
            return []
        rows = await self._session.scalars(select(Opportunity).where(col(Opportunity.id).in_(ids)))
        by_id = {row.id: row for row in rows}
        return [by_id[i] for i in ids if i in by_id]

    async def with_opportunities(self, contact_ids: Sequence[str]) -> list[str]:
        """Those of ``contact_ids`` that are some opportunity's contact or company, in order."""
        ids = list(dict.fromkeys(contact_ids))
        found = await self._session.scalars(
            sa.union(
                sa.select(OPP.c.contact_id).where(OPP.c.contact_id.in_(ids)),
                sa.select(OPP.c.org_id).where(OPP.c.org_id.in_(ids)),
            )
        )
        known = set(found.all())
        return [contact_id for contact_id in ids if contact_id in known]

    async def refresh_company_facts(self, contact: ContactCopy, org_id: str) -> Sequence[str]:
        """After a contact's copy changed: its opportunities follow its (new) company
        ``org_id``, and the opportunities whose company it is get its facts; the ids of
        the opportunities touched."""
        org = table_of(ContactCopy).alias("org")
        await self._session.execute(
            sa.update(OPP)
            .where(OPP.c.contact_id == contact.contact_id)
            .values(
                org_id=org_id,
                company_size=sa.select(org.c.company_size)
                .where(org.c.contact_id == org_id)
                .scalar_subquery(),
                company_group=sa.select(org.c.company_group)
                .where(org.c.contact_id == org_id)
                .scalar_subquery(),
            )
        )
        await self._session.execute(
            sa.update(OPP)
            .where(OPP.c.org_id == contact.contact_id)
            .values(company_size=contact.company_size, company_group=contact.company_group)
        )
        touched = await self._session.scalars(
            sa.select(OPP.c.id).where(
                sa.or_(OPP.c.contact_id == contact.contact_id, OPP.c.org_id == contact.contact_id)
            )
        )
        return touched.all()


def _conditions(flt: OpportunityFilter, settings: CrmSettingsData) -> list[Any]:
    where: list[Any] = []
    if flt.crm_status:
        where.append(OPP.c.crm_status.in_(flt.crm_status))
    if flt.assignee_id:
        where.append(OPP.c.assignee_id.in_(flt.assignee_id))
    if flt.revenue_group:
        ranges = []
        for group in settings.revenue_groups:
            if group.name in flt.revenue_group:
                # matches the CASE: this group and none listed before it
                revenue_group = revenue_group_case(settings, OPP.c.revenue_cents, names=True)
                ranges.append(revenue_group == group.name)
        where.append(sa.or_(*ranges) if ranges else sa.false())
    if flt.contact_id:
        # a company's id also selects the opportunities of its contact persons
        where.append(sa.or_(OPP.c.contact_id.in_(flt.contact_id), OPP.c.org_id.in_(flt.contact_id)))
    if flt.company_size:
        where.append(OPP.c.company_size.in_(flt.company_size))
    if flt.company_group:
        where.append(OPP.c.company_group.in_(flt.company_group))
    if flt.users_from is not None:
        where.append(OPP.c.expected_users >= flt.users_from)
    if flt.users_to is not None:
        where.append(OPP.c.expected_users <= flt.users_to)
    if flt.product:
        link = table_of(OpportunityProduct)
        where.append(
            sa.exists().where(link.c.opportunity_id == OPP.c.id, link.c.product.in_(flt.product))
        )
    if flt.campaign_id:
        link = table_of(OpportunityCampaign)
        where.append(
            sa.exists().where(
                link.c.opportunity_id == OPP.c.id, link.c.campaign_id.in_(flt.campaign_id)
            )
        )
    return where


def _ids_page(
    flt: OpportunityFilter,
    settings: CrmSettingsData,
    *,
    after: tuple[datetime, str] | None,
    limit: int,
) -> Any:
    """Ids of one page, newest first (keyset on created_at, id)."""
    from_: Any = OPP
    query = (
        sa.select(OPP.c.id, OPP.c.created_at).select_from(from_).where(*_conditions(flt, settings))
    )
    if after is not None:
        at, ident = after
        query = query.where(
            sa.or_(OPP.c.created_at < at, sa.and_(OPP.c.created_at == at, OPP.c.id < ident))
        )
    return query.order_by(OPP.c.created_at.desc(), OPP.c.id.desc()).limit(limit)
