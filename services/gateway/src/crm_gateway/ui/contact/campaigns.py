"""The contact's campaign memberships."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from crm_gateway.ui.client import ApiError
from crm_gateway.ui.contact.page import after_change, refused
from crm_gateway.ui.context import StaffPage
from crm_gateway.ui.forms import form_data

router = APIRouter(include_in_schema=False)


@router.post("/ui/contacts/{contact_id}/campaigns")
async def join_campaign(request: Request, contact_id: str, page: StaffPage) -> Response:
    form = await form_data(request)
    campaign_id = form.get("campaign_id", "")
    try:
        await page.api.post(
            f"/api/campaigns/{campaign_id}/members", json={"contact_ids": [contact_id]}
        )
    except ApiError as problem:
        if problem.status == 404:
            problem = ApiError(
                422, "unknown campaign", errors=[{"field": "campaign_id", "message": "?"}]
            )
        return await refused(page, contact_id, "kampagnen", problem, form=form)
    return await after_change(page, contact_id, "kampagnen", page._("Zur Kampagne hinzugefügt."))


@router.post("/ui/contacts/{contact_id}/campaigns/{campaign_id}/leave")
async def leave_campaign(
    request: Request, contact_id: str, campaign_id: str, page: StaffPage
) -> Response:
    await page.api.delete(f"/api/campaigns/{campaign_id}/members/{contact_id}")
    return await after_change(page, contact_id, "kampagnen", page._("Aus der Kampagne entfernt."))
