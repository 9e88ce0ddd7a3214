"""Queries of campaigns and their members: add and flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crm_campaigns.models import Campaign, CampaignMember, ContactCopy


class CampaignRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: Campaign | CampaignMember) -> None:
        self._session.add(row)

    async def delete(self, row: CampaignMember) -> None:
        await self._session.delete(row)

    async def flush(self) -> None:
        await self._session.flush()

    async def get(self, campaign_id: str, *, for_update: bool = False) -> Campaign | None:
        if for_update:
            query = select(Campaign).where(col(Campaign.id) == campaign_id).with_for_update()
            return (await self._session.scalars(query)).first()
        return await self._session.get(Campaign, campaign_id)

    async def many(self, ids: set[str]) -> dict[str, Campaign]:
        if not ids:
            return {}
        rows = await self._session.scalars(select(Campaign).where(col(Campaign.id).in_(ids)))
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
        return (await self._session.scalars(query)).all()

    async def member_ids(self, campaign_id: str, contact_ids: set[str]) -> set[str]:
        rows = await self._session.scalars(
            select(CampaignMember.contact_id).where(
                col(CampaignMember.campaign_id) == campaign_id,
                col(CampaignMember.contact_id).in_(contact_ids),
            )
        )
        return set(rows)

    async def member(self, campaign_id: str, contact_id: str) -> CampaignMember | None:
        return await self._session.get(CampaignMember, (campaign_id, contact_id))

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
        return [(m, c) for m, c in (await self._session.execute(query)).all()]

    async def memberships_of(self, contact_id: str) -> Sequence[tuple[CampaignMember, Campaign]]:
        query = (
            select(CampaignMember, Campaign)
            .join(Campaign, col(Campaign.id) == col(CampaignMember.campaign_id))
            .where(col(CampaignMember.contact_id) == contact_id)
        )
        return [(m, c) for m, c in (await self._session.execute(query)).all()]
