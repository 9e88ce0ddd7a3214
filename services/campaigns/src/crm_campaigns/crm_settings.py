"""The admin lists of seed 003 as stored: one row, the defaults until an admin saves.

Other services check CRM values against them too (the contacts service, on contacts):
every save is announced as ``CrmSettingsChanged``, and so are the lists in force whenever
the service starts (so a fresh install's defaults, or a copy lost elsewhere, arrive)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_campaigns.crm_schemas import DEFAULT_SETTINGS, CrmSettingsData
from crm_campaigns.models import CrmSettings
from crm_shared.events import CrmSettingsChanged, NamedRange
from crm_shared.outbox import Outbox
from crm_shared.service import Runtime


async def load_settings(session: AsyncSession) -> CrmSettingsData:
    row = await session.get(CrmSettings, 1)
    if row is None:
        return DEFAULT_SETTINGS
    return CrmSettingsData.model_validate(row.data)


def announce(session: AsyncSession, outbox: Outbox, data: CrmSettingsData, version: int) -> None:
    """``CrmSettingsChanged`` with the lists in force, in the caller's transaction."""
    ranges = data.model_dump(mode="json", include={"company_sizes", "revenue_groups"})
    outbox.emit(
        session,
        CrmSettingsChanged(
            opportunity_statuses=data.opportunity_statuses,
            partner_statuses=data.partner_statuses,
            company_sizes=[NamedRange.model_validate(_text(r)) for r in ranges["company_sizes"]],
            revenue_groups=[NamedRange.model_validate(_text(r)) for r in ranges["revenue_groups"]],
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


async def announce_at_start(runtime: Runtime[Any]) -> None:
    """The lists in force, announced once the service is up."""
    async with runtime.database.unit_of_work() as session:
        row = await session.get(CrmSettings, 1)
        announce(session, runtime.outbox, await load_settings(session), row.version if row else 0)
