"""Queries of procedures: add and flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crm_interactions.models import Procedure


class ProcedureRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def procedure(self, procedure_id: str) -> Procedure | None:
        return await self.session.get(Procedure, procedure_id)

    async def page(
        self,
        *,
        contact_id: str | None,
        state: str | None,
        responsible_id: str | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> Sequence[Procedure]:
        """Keyset page ordered by start time, then id (``after`` = last (starts_at, id))."""
        query = select(Procedure)
        if contact_id:
            query = query.where(col(Procedure.contact_id) == contact_id)
        if state:
            query = query.where(col(Procedure.state) == state)
        if responsible_id:
            query = query.where(col(Procedure.responsible_id) == responsible_id)
        if after is not None:
            at, last_id = after
            query = query.where(
                sa.or_(
                    col(Procedure.starts_at) > at,
                    sa.and_(col(Procedure.starts_at) == at, col(Procedure.id) > last_id),
                )
            )
        query = query.order_by(col(Procedure.starts_at), col(Procedure.id)).limit(limit)
        return (await self.session.scalars(query)).all()
