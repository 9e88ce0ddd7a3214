"""Queries of everything this service holds about one contact: add and flush, never
commit."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crm_interactions.models import Interaction, PortalSession, Procedure


class PersonalDataRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def interactions(self, contact_id: str) -> Sequence[Interaction]:
        """The contact's interactions, newest first."""
        query = (
            select(Interaction)
            .where(col(Interaction.contact_id) == contact_id)
            .order_by(col(Interaction.occurred_at).desc(), col(Interaction.id))
        )
        return (await self.session.scalars(query)).all()

    async def procedures(self, contact_id: str) -> Sequence[Procedure]:
        """The contact's procedures, newest start first."""
        query = (
            select(Procedure)
            .where(col(Procedure.contact_id) == contact_id)
            .order_by(col(Procedure.starts_at).desc(), col(Procedure.id))
        )
        return (await self.session.scalars(query)).all()

    async def portal_sessions(self, contact_id: str) -> Sequence[PortalSession]:
        """The contact's portal sessions (kept as hashes), newest first."""
        query = (
            select(PortalSession)
            .where(col(PortalSession.contact_id) == contact_id)
            .order_by(col(PortalSession.created_at).desc())
        )
        return (await self.session.scalars(query)).all()
