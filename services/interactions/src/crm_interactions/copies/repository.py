"""Queries of the local copies (contacts, staff members, campaigns) and the GDPR erase of
a contact's rows: add and flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crm_interactions.models import (
    DELETED,
    CampaignCopy,
    ContactCopy,
    Interaction,
    PortalLinkRequest,
    PortalSession,
    PortalToken,
    Procedure,
    StaffCopy,
)


class CopyRepository:
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

    async def staff(self, staff_id: str) -> StaffCopy | None:
        return await self.session.get(StaffCopy, staff_id)

    async def campaign(self, campaign_id: str) -> CampaignCopy | None:
        return await self.session.get(CampaignCopy, campaign_id)

    async def search_contacts(
        self, terms: list[str], limit: int, *, kind: str | None = None
    ) -> Sequence[ContactCopy]:
        """Contacts (of ``kind``, if given) whose name contains every term (case-insensitive)."""
        query = select(ContactCopy).where(col(ContactCopy.status) != DELETED)
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

    async def erase_contact_rows(self, contact_id: str) -> None:
        """Every row of this service about a contact (GDPR erase)."""
        for table, column in (
            (Interaction, col(Interaction.contact_id)),
            (Procedure, col(Procedure.contact_id)),
            (PortalToken, col(PortalToken.contact_id)),
            (PortalSession, col(PortalSession.contact_id)),
        ):
            await self.session.execute(sa.delete(table).where(column == contact_id))

    async def forget_link_requests(self, email: str) -> None:
        """Login links asked for an address and not sent yet (kept lower case)."""
        await self.session.execute(
            sa.delete(PortalLinkRequest).where(col(PortalLinkRequest.email) == email.lower())
        )
