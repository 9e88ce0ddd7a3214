"""Queries of the customer portal (login-link requests, tokens, sessions): add and flush,
never commit. The customer's interactions are read through ``interactions/repository.py``."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crm_interactions.models import (
    DELETED,
    ContactCopy,
    PortalLinkRequest,
    PortalSession,
    PortalToken,
)
from crm_shared.db import table_of


class PortalRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def contact_by_email(self, email: str) -> ContactCopy | None:
        rows = await self.session.scalars(
            select(ContactCopy)
            .where(sa.func.lower(col(ContactCopy.email)) == email.lower())
            .where(col(ContactCopy.status) != DELETED)
            .order_by(col(ContactCopy.contact_id))
        )
        return rows.first()

    async def keep_link_request(self, email: str, expires_at: datetime) -> None:
        """Remember (or renew) a login-link request for an address no copy has."""
        row = await self.session.get(PortalLinkRequest, email)
        if row is None:
            self.session.add(PortalLinkRequest(email=email, expires_at=expires_at))
        else:
            row.expires_at = expires_at
        await self.session.flush()

    async def answerable_link_requests(self, now: datetime) -> list[tuple[str, str]]:
        """``(email, contact_id)`` of waiting requests whose address a copy has now;
        expired requests are dropped."""
        await self.session.execute(
            sa.delete(PortalLinkRequest).where(col(PortalLinkRequest.expires_at) <= now)
        )
        rows = await self.session.execute(
            select(col(PortalLinkRequest.email), col(ContactCopy.contact_id))
            .join(
                ContactCopy, sa.func.lower(col(ContactCopy.email)) == col(PortalLinkRequest.email)
            )
            .where(col(ContactCopy.status) != DELETED)
            .order_by(col(PortalLinkRequest.email), col(ContactCopy.contact_id))
        )
        return [(email, contact_id) for email, contact_id in rows]

    async def take_link_request(self, email: str) -> bool:
        """Claim a waiting request (one replica, once)."""
        table = table_of(PortalLinkRequest)
        result = await self.session.execute(
            sa.delete(table).where(table.c.email == email).returning(table.c.email)
        )
        return result.first() is not None

    async def token(self, token_hash: str) -> PortalToken | None:
        return await self.session.get(PortalToken, token_hash, with_for_update=True)

    async def portal_session(self, session_hash: str) -> PortalSession | None:
        return await self.session.get(PortalSession, session_hash)
