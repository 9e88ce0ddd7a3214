"""Queries of the gateway (staff and competences): add and flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence

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
        return await self._session.get(Staff, staff_id, with_for_update=for_update)

    async def by_username(self, username: str) -> Staff | None:
        result = await self._session.scalars(select(Staff).where(col(Staff.username) == username))
        return result.first()

    async def other_active(self, staff_id: str) -> Sequence[Staff]:
        """The active staff members but this one."""
        query = select(Staff).where(col(Staff.active).is_(True), col(Staff.id) != staff_id)
        return (await self._session.scalars(query)).all()

    async def all_staff(self) -> Sequence[Staff]:
        """Every staff member, by name."""
        return (await self._session.scalars(select(Staff).order_by(col(Staff.name)))).all()

    async def known_staff_ids(self, staff_ids: Sequence[str]) -> set[str]:
        """Those of ``staff_ids`` that name a staff member."""
        known = select(col(Staff.id)).where(col(Staff.id).in_(staff_ids))
        return set(await self._session.scalars(known))

    # --- competences ----------------------------------------------------------------------

    async def competence(
        self, competence_id: str, *, for_update: bool = False
    ) -> Competence | None:
        return await self._session.get(Competence, competence_id, with_for_update=for_update)

    async def competence_named(self, name: str) -> Competence | None:
        existing = await self._session.scalars(
            select(Competence).where(col(Competence.name) == name)
        )
        return existing.first()

    async def all_competences(self) -> Sequence[Competence]:
        """Every competence, by name."""
        query = select(Competence).order_by(col(Competence.name))
        return (await self._session.scalars(query)).all()
