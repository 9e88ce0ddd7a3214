"""Queries of the contacts service: add and flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crm_contacts.models import Contact


class ContactRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, contact_id: str) -> Contact | None:
        return await self.session.get(Contact, contact_id)

    async def by_customer_number(self, number: str) -> Contact | None:
        result = await self.session.scalars(
            select(Contact).where(col(Contact.customer_number) == number)
        )
        return result.first()

    async def add(self, contact: Contact) -> Contact:
        self.session.add(contact)
        await self.session.flush()
        return contact

    async def delete(self, contact: Contact) -> None:
        await self.session.delete(contact)
        await self.session.flush()

    async def page(
        self, *, q: str | None, status: str | None, after: tuple[str, str] | None, limit: int
    ) -> Sequence[Contact]:
        """Contacts ordered by (name, id), starting after a keyset cursor."""
        query = select(Contact)
        if q:
            query = query.where(col(Contact.name).ilike(f"%{q}%"))
        if status:
            query = query.where(col(Contact.status) == status)
        if after:
            query = query.where(sa.tuple_(col(Contact.name), col(Contact.id)) > after)
        query = query.order_by(col(Contact.name), col(Contact.id)).limit(limit)
        return (await self.session.scalars(query)).all()
