"""What the campaigns rules tests write through the services: contact copies (as the
contact events would), campaigns and opportunities, each in a unit of work of its own."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from crm_campaigns.campaigns.schemas import CampaignCreate, CampaignPublic
from crm_campaigns.campaigns.service import CampaignService
from crm_campaigns.contact_copies.service import ContactCopyService
from crm_campaigns.opportunities.schemas import OpportunityCreate, OpportunityPublic
from crm_campaigns.opportunities.service import OpportunityService
from crm_campaigns.settings import Settings
from crm_shared.events import ContactSnapshot, CrmProperties
from crm_shared.service import Runtime


async def copy_contact(
    runtime: Runtime[Settings],
    contact_id: str | None = None,
    *,
    status: str = "prospect",
    version: int = 1,
    **fields: Any,
) -> str:
    """A contact's copy, written by the service's own copy method."""
    contact_id = contact_id or str(uuid.uuid4())
    snapshot = ContactSnapshot.model_validate(
        {
            "contact_id": contact_id,
            "kind": "person",
            "name": "Erika Mustermann",
            "status": status,
            "version": version,
            "crm": CrmProperties(),
            **fields,
        }
    )
    async with runtime.database.unit_of_work() as session:
        await ContactCopyService(session, runtime).apply([snapshot])
    return contact_id


async def create_campaign(runtime: Runtime[Settings], **fields: Any) -> CampaignPublic:
    data = {"name": "Frühjahr", "starts_on": "2026-03-01", "ends_on": "2026-05-31", **fields}
    async with runtime.database.unit_of_work() as session:
        return await CampaignService(session, runtime).create(CampaignCreate.model_validate(data))


async def create_opportunity(
    runtime: Runtime[Settings], contact_id: str, **fields: Any
) -> OpportunityPublic:
    data = {
        "contact_id": contact_id,
        "title": "Lizenzen 2027",
        "crm_status": "Bedarf ermittelt",
        "closing_probability": 50,
        "revenue_potential": Decimal("12500"),
        **fields,
    }
    async with runtime.database.unit_of_work() as session:
        return await OpportunityService(session, runtime).create(
            OpportunityCreate.model_validate(data)
        )
