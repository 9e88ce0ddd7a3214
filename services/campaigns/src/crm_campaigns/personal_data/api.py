"""HTTP route of the campaigns service's part of a contact's personal data, thin."""

from __future__ import annotations

from fastapi import APIRouter

from crm_campaigns.deps import PersonalDataServiceDep
from crm_campaigns.personal_data.schemas import CampaignsPersonalData
from crm_shared.auth import AdminStaff

router = APIRouter(prefix="/api/contacts", tags=["personal data"])


@router.get("/{contact_id}/personal-data/campaigns", response_model=CampaignsPersonalData)
async def personal_data(
    contact_id: str, service: PersonalDataServiceDep, _: AdminStaff
) -> CampaignsPersonalData:
    """What this service holds about the contact (admin): the campaigns service's part of
    the gateway's ``GET /api/contacts/{id}/personal-data``."""
    return await service.of_contact(contact_id)
