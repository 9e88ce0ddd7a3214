"""Queries of the CRM admin lists: the one stored row, and the lock that keeps the
dashboard's facts and a new revenue-group list apart. Add and flush, never commit."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from crm_campaigns.crm_settings.schemas import CrmSettingsData, settings_of
from crm_campaigns.models import CrmSettings

# Save of the admin lists vs writers of facts (PostgreSQL): the save re-derives every
# revenue group under the exclusive lock, writers hold it shared, so none writes a group
# from the list before while the save runs. SQLite has a single writer anyway.
_SETTINGS_LOCK = 0x43524D534554  # "CRMSET"


class CrmSettingsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def row(self, *, for_update: bool = False) -> CrmSettings | None:
        return await self._session.get(CrmSettings, 1, with_for_update=for_update or None)

    async def current(self) -> CrmSettingsData:
        """The lists in force (the defaults until an admin saves)."""
        return settings_of(await self.row())

    def add(self, row: CrmSettings) -> None:
        self._session.add(row)

    async def flush(self) -> None:
        await self._session.flush()

    async def hold(self, *, exclusive: bool = False) -> None:
        """Take the settings lock for this transaction (PostgreSQL; see ``_SETTINGS_LOCK``):
        exclusively to save the lists, shared to write facts."""
        if self._session.get_bind().dialect.name == "postgresql":
            name = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
            await self._session.execute(sa.select(getattr(sa.func, name)(_SETTINGS_LOCK)))
