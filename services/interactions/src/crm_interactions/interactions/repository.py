"""Queries of interactions: add and flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crm_interactions.models import Interaction

SORT_KEYS = {
    "occurred_at": (col(Interaction.occurred_at), True),
    "recorded_by": (col(Interaction.recorded_by_name), False),
    "topic": (col(Interaction.topic), False),
}
"""Sort column and whether it runs descending; ties go by id, ascending."""


class InteractionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, interaction_id: str) -> Interaction | None:
        return await self.session.get(Interaction, interaction_id)

    async def page(
        self,
        *,
        contact_id: str | None,
        kind: str | None,
        sort: str,
        after: tuple[datetime | str, str] | None,
        limit: int,
        customer_facing: bool = False,
    ) -> Sequence[Interaction]:
        """A keyset page in ``sort`` order; ``after`` = the last row's (sort value, id);
        ``customer_facing``: no internal ones (what the portal shows)."""
        column, descending = SORT_KEYS[sort]
        query = select(Interaction)
        if contact_id:
            query = query.where(col(Interaction.contact_id) == contact_id)
        if kind:
            query = query.where(col(Interaction.kind) == kind)
        if customer_facing:
            query = query.where(col(Interaction.kind) != "internal")
        if after is not None:
            value, last_id = after
            beyond: Any = column < value if descending else column > value
            query = query.where(
                sa.or_(beyond, sa.and_(column == value, col(Interaction.id) > last_id))
            )
        order = column.desc() if descending else column.asc()
        query = query.order_by(order, col(Interaction.id)).limit(limit)
        return (await self.session.scalars(query)).all()
