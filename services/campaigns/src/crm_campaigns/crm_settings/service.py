"""Rules of the CRM admin lists (seed 003): one stored row, the defaults until an admin
saves. Adds outbox events; never commits.

Other services check CRM values against them too (the contacts service, on contacts):
every save is announced as ``CrmSettingsChanged``, and so are the lists in force whenever
the service starts (so a fresh install's defaults, or a copy lost elsewhere, arrive)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from crm_campaigns.crm_settings.repository import CrmSettingsRepository
from crm_campaigns.crm_settings.schemas import DEFAULT_SETTINGS, CrmSettingsData
from crm_campaigns.dashboard import facts
from crm_campaigns.models import CrmSettings
from crm_campaigns.settings import Settings
from crm_shared.events import CrmSettingsChanged, NamedRange, utcnow
from crm_shared.service import Runtime


class CrmSettingsService:
    def __init__(self, session: AsyncSession, runtime: Runtime[Settings]) -> None:
        self._session = session
        self._outbox = runtime.outbox
        self._repo = CrmSettingsRepository(session)

    async def current(self) -> CrmSettingsData:
        """The lists in force."""
        return await self._repo.current()

    async def save(self, data: CrmSettingsData) -> CrmSettingsData:
        """Replace the lists; a changed revenue-group list re-groups every opportunity's
        dashboard facts in the same transaction (writers of facts wait meanwhile)."""
        await self._repo.hold(exclusive=True)
        row = await self._repo.row(for_update=True)
        if row is None:
            row = CrmSettings(id=1)
            self._repo.add(row)
        before = CrmSettingsData.model_validate(row.data) if row.data else DEFAULT_SETTINGS
        row.data = data.model_dump(mode="json")
        row.updated_at = utcnow()
        row.version = (row.version or 0) + 1
        await self._repo.flush()
        if before.revenue_groups != data.revenue_groups:
            await facts.regroup_revenue(self._session, data)
        self._announce(data, row.version)
        return data

    async def announce_current(self) -> None:
        """The lists in force, announced (once the service is up)."""
        row = await self._repo.row()
        self._announce(await self._repo.current(), row.version if row else 0)

    def _announce(self, data: CrmSettingsData, version: int) -> None:
        """``CrmSettingsChanged`` with the lists in force, in the caller's transaction."""
        ranges = data.model_dump(mode="json", include={"company_sizes", "revenue_groups"})
        self._outbox.emit(
            self._session,
            CrmSettingsChanged(
                opportunity_statuses=data.opportunity_statuses,
                partner_statuses=data.partner_statuses,
                company_sizes=[
                    NamedRange.model_validate(_text(r)) for r in ranges["company_sizes"]
                ],
                revenue_groups=[
                    NamedRange.model_validate(_text(r)) for r in ranges["revenue_groups"]
                ],
                company_groups=data.company_groups,
                products=data.products,
                version=version,
            ),
        )


def _text(entry: dict[str, object]) -> dict[str, object]:
    return {
        **entry,
        "min": str(entry["min"]),
        "max": None if entry["max"] is None else str(entry["max"]),
    }
