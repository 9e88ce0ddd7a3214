"""Queries of the campaigns service: add and flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crm_campaigns.facts import sync_facts
from crm_campaigns.models import Campaign, CampaignMember, ContactCopy, Opportunity
from crm_shared.db import table_of


class ContactRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, contact_id: str) -> ContactCopy | None:
        return await self.session.get(ContactCopy, contact_id)

    async def many(self, ids: set[str]) -> dict[str, ContactCopy]:
        if not ids:
            return {}
        rows = await self.session.scalars(
            select(ContactCopy).where(col(ContactCopy.contact_id).in_(ids))
        )
        return {row.contact_id: row for row in rows}


class CampaignRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, campaign_id: str, *, for_update: bool = False) -> Campaign | None:
        if for_update:
            query = select(Campaign).where(col(Campaign.id) == campaign_id).with_for_update()
            return (await self.session.scalars(query)).first()
        return await self.session.get(Campaign, campaign_id)

    async def many(self, ids: set[str]) -> dict[str, Campaign]:
        if not ids:
            return {}
        rows = await self.session.scalars(select(Campaign).where(col(Campaign.id).in_(ids)))
        return {row.id: row for row in rows}

    async def page(
        self,
        *,
        include_retired: bool,
        after: tuple[str, str] | None,
        limit: int,
        contact_id: str | None = None,
    ) -> Sequence[Campaign]:
        query = select(Campaign)
        if contact_id is not None:  # the campaigns this contact is a member of
            query = query.join(
                CampaignMember,
                sa.and_(
                    col(CampaignMember.campaign_id) == col(Campaign.id),
                    col(CampaignMember.contact_id) == contact_id,
                ),
            )
        if not include_retired:
            query = query.where(col(Campaign.retired_at).is_(None))
        if after is not None:
            query = query.where(sa.tuple_(col(Campaign.name), col(Campaign.id)) > after)
        query = query.order_by(col(Campaign.name), col(Campaign.id)).limit(limit)
        return (await self.session.scalars(query)).all()

    async def member_ids(self, campaign_id: str, contact_ids: set[str]) -> set[str]:
        rows = await self.session.scalars(
            select(CampaignMember.contact_id).where(
                col(CampaignMember.campaign_id) == campaign_id,
                col(CampaignMember.contact_id).in_(contact_ids),
            )
        )
        return set(rows)

    async def member(self, campaign_id: str, contact_id: str) -> CampaignMember | None:
        return await self.session.get(CampaignMember, (campaign_id, contact_id))

    async def members_page(
        self, campaign_id: str, *, after: str | None, limit: int
    ) -> Sequence[tuple[CampaignMember, ContactCopy | None]]:
        query = (
            select(CampaignMember, ContactCopy)
            .join(
                ContactCopy,
                col(ContactCopy.contact_id) == col(CampaignMember.contact_id),
                isouter=True,
            )
            .where(col(CampaignMember.campaign_id) == campaign_id)
        )
        if after is not None:
            query = query.where(col(CampaignMember.contact_id) > after)
        query = query.order_by(col(CampaignMember.contact_id)).limit(limit)
        return [(m, c) for m, c in (await self.session.execute(query)).all()]

    async def memberships_of(self, contact_id: str) -> Sequence[tuple[CampaignMember, Campaign]]:
        query = (
            select(CampaignMember, Campaign)
            .join(Campaign, col(Campaign.id) == col(CampaignMember.campaign_id))
            .where(col(CampaignMember.contact_id) == contact_id)
        )
        return [(m, c) for m, c in (await self.session.execute(query)).all()]


def org_of(contact: ContactCopy) -> str:
    """Whose company facts count for a contact: its company's, else its own."""
    return contact.company_id or contact.contact_id


async def with_opportunities(session: AsyncSession, contact_ids: Sequence[str]) -> list[str]:
    """Those of ``contact_ids`` that are some opportunity's contact or company, in order."""
    opp = table_of(Opportunity)
    ids = list(dict.fromkeys(contact_ids))
    found = await session.scalars(
        sa.union(
            sa.select(opp.c.contact_id).where(opp.c.contact_id.in_(ids)),
            sa.select(opp.c.org_id).where(opp.c.org_id.in_(ids)),
        )
    )
    known = set(found.all())
    return [contact_id for contact_id in ids if contact_id in known]


async def refresh_company_facts(session: AsyncSession, contact: ContactCopy) -> None:
    """After a contact's copy changed: its opportunities follow its (new) company, and the
    opportunities whose company it is get its facts."""
    opp = table_of(Opportunity)
    org = table_of(ContactCopy).alias("org")
    org_id = org_of(contact)
    await session.execute(
        sa.update(opp)
        .where(opp.c.contact_id == contact.contact_id)
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
    await session.execute(
        sa.update(opp)
        .where(opp.c.org_id == contact.contact_id)
        .values(company_size=contact.company_size, company_group=contact.company_group)
    )
    touched = await session.scalars(
        sa.select(opp.c.id).where(
            sa.or_(opp.c.contact_id == contact.contact_id, opp.c.org_id == contact.contact_id)
        )
    )
    await sync_facts(session, touched.all())
