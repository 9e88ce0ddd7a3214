"""Queries of the interactions service: add and flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crm_interactions.models import ContactCopy, Interaction

SORT_KEYS = {
    "occurred_at": (col(Interaction.occurred_at), True),
    "recorded_by": (col(Interaction.recorded_by_name), False),
    "topic": (col(Interaction.topic), False),
}


class InteractionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def contact(self, contact_id: str) -> ContactCopy | None:
        return await self.session.get(ContactCopy, contact_id)

    async def contacts(self, ids: set[str]) -> dict[str, ContactCopy]:
        if not ids:
            return {}
        rows = await self.session.scalars(
            select(ContactCopy).where(col(ContactCopy.contact_id).in_(ids))
        )
        return {row.contact_id: row for row in rows}

    async def get(self, interaction_id: str) -> Interaction | None:
        return await self.session.get(Interaction, interaction_id)

    async def page(
        self,
        *,
        contact_id: str | None,
        kind: str | None,
        sort: str,
        offset: int,
        limit: int,
    ) -> Sequence[Interaction]:
        column, descending = SORT_KEYS[sort]
        query = select(Interaction)
        if contact_id:
            query = query.where(col(Interaction.contact_id) == contact_id)
        if kind:
            query = query.where(col(Interaction.kind) == kind)
        order = column.desc() if descending else column.asc()
        query = query.order_by(order, col(Interaction.id)).offset(offset).limit(limit)
        return (await self.session.scalars(query)).all()

    async def delete_for_contact(self, contact_id: str) -> None:
        await self.session.execute(
            sa.delete(Interaction).where(col(Interaction.contact_id) == contact_id)
        )
