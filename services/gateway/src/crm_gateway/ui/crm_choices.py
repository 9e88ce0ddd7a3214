"""What the dashboard's filters and the opportunity form offer: the admin's CRM lists,
the campaigns (retired ones too, for what was chosen before), the staff, and the contact
chosen (none if it is gone)."""

from __future__ import annotations

from typing import Any

from crm_gateway.ui.client import ApiError, gather
from crm_gateway.ui.context import Page


async def crm_choices(page: Page, contact_id: str | None) -> dict[str, Any]:
    crm, campaigns, staff = await gather(
        page.api.get("/api/crm/settings"),
        page.api.get("/api/campaigns", limit=500, include_retired="true"),
        page.api.get("/api/staff", limit=500),
    )
    contact = None
    if contact_id:
        try:
            contact = await page.api.get(f"/api/contacts/{contact_id}")
        except ApiError as problem:
            if problem.status not in (404, 422):
                raise
    return {
        "crm": crm,
        "campaigns": campaigns["items"],
        "staff_list": staff["items"],
        "contact": contact,
    }
