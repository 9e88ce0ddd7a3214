"""The CRM dashboard: groups of opportunities with their counts and revenue, read from
the fact table or its totals (see ``queries.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_campaigns.contact_copies.service import ContactCopyService
from crm_campaigns.crm_settings.service import CrmSettingsService
from crm_campaigns.dashboard.queries import key_names, run_dashboard
from crm_campaigns.dashboard.schemas import Dashboard, dashboard_csv, parse_group_by
from crm_campaigns.opportunities.schemas import OpportunityFilter
from crm_campaigns.settings import Settings
from crm_shared.service import Runtime


class DashboardService:
    def __init__(self, session: AsyncSession, runtime: Runtime[Settings]) -> None:
        self._session = session
        self._copies = ContactCopyService(session, runtime)
        self._settings = CrmSettingsService(session, runtime)

    async def dashboard(self, flt: OpportunityFilter, group_by: str | None) -> Dashboard:
        """The groups, with the names of the contacts and campaigns their keys name."""
        await self._copies.wait_until_current()  # company facts come from contact events
        fields = parse_group_by(group_by)
        groups = await self._groups(flt, fields)
        return Dashboard.of(fields, groups, await key_names(self._session, fields, groups))

    async def export(self, flt: OpportunityFilter, group_by: str | None) -> Iterator[str]:
        """The groups as CSV lines."""
        fields = parse_group_by(group_by)
        return dashboard_csv(fields, await self._groups(flt, fields))

    async def _groups(self, flt: OpportunityFilter, fields: list[str]) -> list[dict[str, Any]]:
        settings = await self._settings.current()
        return await run_dashboard(self._session, flt, settings, fields)
