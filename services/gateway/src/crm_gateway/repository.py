"""Queries of the gateway (staff and competences): add and flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col, select

from crm_gateway.models import Competence, Staff


class StaffRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: SQLModel) -> None:
        self._session.add(row)

    async def flush(self) -> None:
        await self._session.flush()

    # --- staff ------------------------------------------------------------------------

    async def staff(self, staff_id: str, *, for_update: bool = False) -> Staff | None:
        if not storable(staff_id):
            return None
        return await self._session.get(Staff, staff_id, with_for_update=for_update)

    async def by_username(self, username: str) -> Staff | None:
        """The staff member of ``username`` in any case (``ADMIN`` finds ``admin``): the
        unique index on ``lower(username)`` says there is at most one."""
        if not storable(username):
            return None
        query = select(Staff).where(sa.func.lower(col(Staff.username)) == username.lower())
        return (await self._session.scalars(query)).first()

    async def other_active(self, staff_id: str) -> Sequence[Staff]:
        """The active staff members but this one."""
        query = select(Staff).where(col(Staff.active).is_(True), col(Staff.id) != staff_id)
        return (await self._session.scalars(query)).all()

    async def staff_page(self, *, after: tuple[str, str] | None, limit: int) -> Sequence[Staff]:
        """Up to ``limit`` staff members by (name, id), after the key ``after``."""
        query = select(Staff)
        if after is not None:
            query = query.where(sa.tuple_(col(Staff.name), col(Staff.id)) > sa.tuple_(*after))
        query = query.order_by(col(Staff.name), col(Staff.id)).limit(limit)
        return (await self._session.scalars(query)).all()

    async def known_staff_ids(self, staff_ids: Sequence[str]) -> set[str]:
        """Those of ``staff_ids`` that name a staff member."""
        known = select(col(Staff.id)).where(col(Staff.id).in_(filter(storable, staff_ids)))
        return set(await self._session.scalars(known))

    # --- competences ----------------------------------------------------------------------

    async def competence(
        self, competence_id: str, *, for_update: bool = False
    ) -> Competence | None:
        if not storable(competence_id):
            return None
        return await self._session.get(Competence, competence_id, with_for_update=for_update)

    async def competence_named(self, name: str) -> Competence | None:
        if not storable(name):
            return None
        existing = await self._session.scalars(
            select(Competence).where(col(Competence.name) == name)
        )
        return existing.first()

    async def competence_page(
        self, *, after: tuple[str, str] | None, limit: int
    ) -> Sequence[Competence]:
        """Up to ``limit`` competences by (name, id), after the key ``after``."""
        query = select(Competence)
        if after is not None:
            key = sa.tuple_(col(Competence.name), col(Competence.id))
            query = query.where(key > sa.tuple_(*after))
        query = query.order_by(col(Competence.name), col(Competence.id)).limit(limit)
        return (await self._session.scalars(query)).all()


def storable(text: str) -> bool:
    """Whether a text can be in a column at all: PostgreSQL holds no NUL in ``text`` (it
    refuses the query), so an id or name with one names nothing."""
    return "\x00" not in text
