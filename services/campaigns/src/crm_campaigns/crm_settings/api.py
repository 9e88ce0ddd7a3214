"""HTTP routes of the CRM admin lists."""

from __future__ import annotations

from fastapi import APIRouter

from crm_campaigns.crm_settings.schemas import CrmSettingsData
from crm_campaigns.deps import CrmSettingsServiceDep
from crm_shared.auth import AdminStaff, CurrentStaff

router = APIRouter(prefix="/api/crm/settings", tags=["opportunities"])


@router.get("", response_model=CrmSettingsData)
async def get_settings(settings: CrmSettingsServiceDep, _: CurrentStaff) -> CrmSettingsData:
    return await settings.current()


@router.put("", response_model=CrmSettingsData)
async def put_settings(
    data: CrmSettingsData, settings: CrmSettingsServiceDep, _: AdminStaff
) -> CrmSettingsData:
    return await settings.save(data)
