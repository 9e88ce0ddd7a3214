"""The admin lists of seed 003 as stored: one row, the defaults until an admin saves."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from crm_campaigns.crm_schemas import DEFAULT_SETTINGS, CrmSettingsData
from crm_campaigns.models import CrmSettings


async def load_settings(session: AsyncSession) -> CrmSettingsData:
    row = await session.get(CrmSettings, 1)
    if row is None:
        return DEFAULT_SETTINGS
    return CrmSettingsData.model_validate(row.data)
