"""Queries of the interactions service: add and flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crm_interactions.models import (
    CampaignCopy,
    ContactCopy,
    Interaction,
    PortalLinkRequest,
    PortalSession,
    PortalToken,
    Procedure,
    StaffCopy,
)
from crm_shared.db import table_of

SORT_KEYS = {
    "occurred_at": (col(Interaction.occurred_at), True),
    "recorded_by": (col(Interaction.recorded_by_name), False),
    "topic": (col(Interaction.topic), False),
}


class InteractionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def contact(self, contact_id: str, *, fresh: bool = False) -> ContactCopy | None:
        """A contact's copy; ``fresh`` reads it again (after a bulk upsert in the session)."""
        return await self.session.get(ContactCopy, contact_id, populate_existing=fresh)

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
        """Every row of this service about a contact (GDPR erase)."""
        for table, column in (
            (Interaction, col(Interaction.contact_id)),
            (Procedure, col(Procedure.contact_id)),
            (PortalToken, col(PortalToken.contact_id)),
            (PortalSession, col(PortalSession.contact_id)),
        ):
            await self.session.execute(sa.delete(table).where(column == contact_id))

    # --- local copies -----------------------------------------------------------------

    async def staff(self, staff_id: str) -> StaffCopy | None:
        return await self.session.get(StaffCopy, staff_id)

    async def campaign(self, campaign_id: str) -> CampaignCopy | None:
        return await self.session.get(CampaignCopy, campaign_id)

    async def contact_by_email(self, email: str) -> ContactCopy | None:
        rows = await self.session.scalars(
            select(ContactCopy)
            .where(sa.func.lower(col(ContactCopy.email)) == email.lower())
            .where(col(ContactCopy.status) != "deleted")
            .order_by(col(ContactCopy.contact_id))
        )
        return rows.first()

    async def search_contacts(
        self, terms: list[str], limit: int, *, kind: str | None = None
    ) -> Sequence[ContactCopy]:
        """Contacts (of ``kind``, if given) whose name contains every term (case-insensitive)."""
        query = select(ContactCopy).where(col(ContactCopy.status) != "deleted")
        if kind is not None:
            query = query.where(col(ContactCopy.kind) == kind)
        for term in terms:
            escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(
                sa.func.lower(col(ContactCopy.name)).like(f"%{escaped}%", escape="\\")
            )
        # Names starting with the first term come first (prefix before substring).
        first = terms[0].lower() if terms else ""
        starts = sa.case(
            (sa.func.lower(col(ContactCopy.name)).startswith(first, autoescape=True), 0), else_=1
        )
        query = query.order_by(starts, col(ContactCopy.name), col(ContactCopy.contact_id))
        return (await self.session.scalars(query.limit(limit))).all()

    # --- procedures -------------------------------------------------------------------

    async def procedure(self, procedure_id: str) -> Procedure | None:
        return await self.session.get(Procedure, procedure_id)

    async def procedures(
        self,
        *,
        contact_id: str | None,
        state: str | None,
        responsible_id: str | None,
        after: tuple[str, str] | None,
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
            at, last_id = datetime.fromisoformat(after[0]), after[1]
            query = query.where(
                sa.or_(
                    col(Procedure.starts_at) > at,
                    sa.and_(col(Procedure.starts_at) == at, col(Procedure.id) > last_id),
                )
            )
        query = query.order_by(col(Procedure.starts_at), col(Procedure.id)).limit(limit)
        return (await self.session.scalars(query)).all()

    # --- portal -----------------------------------------------------------------------

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
            .where(col(ContactCopy.status) != "deleted")
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

    async def portal_interactions(
        self, contact_id: str, offset: int, limit: int
    ) -> Sequence[Interaction]:
        query = (
            select(Interaction)
            .where(col(Interaction.contact_id) == contact_id)
            .where(col(Interaction.kind) != "internal")
            .order_by(col(Interaction.occurred_at).desc(), col(Interaction.id))
            .offset(offset)
            .limit(limit)
        )
        return (await self.session.scalars(query)).all()
