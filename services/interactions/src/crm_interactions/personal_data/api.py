"""HTTP route of the interactions service's part of a contact's personal data, thin."""

from __future__ import annotations

from fastapi import APIRouter

from crm_interactions.deps import PersonalDataServiceDep
from crm_interactions.personal_data.schemas import InteractionsPersonalData
from crm_shared.auth import AdminStaff

router = APIRouter(prefix="/api/contacts", tags=["personal data"])


@router.get("/{contact_id}/personal-data/interactions", response_model=InteractionsPersonalData)
async def personal_data(
    contact_id: str, service: PersonalDataServiceDep, _: AdminStaff
) -> InteractionsPersonalData:
    """What this service holds about the contact (admin): the interactions service's part
    of the gateway's ``GET /api/contacts/{id}/personal-data``."""
    return await service.of_contact(contact_id)
