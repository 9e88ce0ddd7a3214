"""Kampagnen (``/ui/campaigns``, seed 004): the list (retired ones on request), a new
campaign, its members, and retiring it for good."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from crm_gateway.ui.client import ApiError, gather
from crm_gateway.ui.context import Page, StaffPage, redirect
from crm_gateway.ui.forms import FormErrors, form_data, form_errors

router = APIRouter(include_in_schema=False)


async def _list_page(
    page: Page, *, retired: bool, form: dict[str, Any], errors: FormErrors | None, status: int
) -> Response:
    params: dict[str, Any] = {"limit": 500}
    if retired:
        params["include_retired"] = "true"
    campaigns, crm, unread = await gather(
        page.api.get("/api/campaigns", **params),
        page.api.get("/api/crm/settings"),
        page.api.get("/api/notifications", limit=1),
    )
    return page.render(
        "campaigns/list.html",
        campaigns=campaigns["items"],
        products=crm["products"],
        retired=retired,
        form=form,
        errors=errors,
        unread=unread["unread"],
        section="campaigns",
        status=status,
    )


@router.get("/ui/campaigns")
async def campaigns(request: Request, page: StaffPage) -> Response:
    retired = request.query_params.get("retired") == "1"
    return await _list_page(page, retired=retired, form={}, errors=None, status=200)


@router.post("/ui/campaigns")
async def create_campaign(request: Request, page: StaffPage) -> Response:
    form = await form_data(request)
    products = [str(p) for p in (await request.form()).getlist("products")]
    body = {
        "name": form.get("name", "").strip(),
        "description": form.get("description", "").strip() or None,
        "starts_on": form.get("starts_on") or None,
        "ends_on": form.get("ends_on") or None,
        "products": products,
    }
    try:
        campaign = await page.api.post("/api/campaigns", json=body)
    except ApiError as problem:
        if problem.status not in (409, 422):
            raise
        form_with_products: dict[str, Any] = {**form, "products": products}
        return await _list_page(
            page,
            retired=False,
            form=form_with_products,
            errors=form_errors(page, problem),
            status=problem.status,
        )
    await page.flash(page._("Kampagne „%(name)s“ angelegt.") % {"name": campaign["name"]})
    return redirect(request, f"/ui/campaigns/{campaign['id']}")


async def _campaign_page(
    page: Page, campaign_id: str, *, errors: FormErrors | None = None, status: int = 200
) -> Response:
    campaign, members, unread = await gather(
        page.api.get(f"/api/campaigns/{campaign_id}"),
        page.api.get(f"/api/campaigns/{campaign_id}/members", limit=500),
        page.api.get("/api/notifications", limit=1),
    )
    return page.render(
        "campaigns/campaign.html",
        campaign=campaign,
        members=members["items"],
        more_members=bool(members["next_cursor"]),
        errors=errors,
        unread=unread["unread"],
        section="campaigns",
        status=status,
    )


@router.get("/ui/campaigns/{campaign_id}")
async def campaign(campaign_id: str, page: StaffPage) -> Response:
    return await _campaign_page(page, campaign_id)


@router.post("/ui/campaigns/{campaign_id}/members")
async def add_member(request: Request, campaign_id: str, page: StaffPage) -> Response:
    form = await form_data(request)
    contact_id = form.get("contact_id", "")
    if not contact_id:
        errors = FormErrors(fields={"contact_id": page._("Bitte wählen Sie einen Kontakt.")})
        return await _campaign_page(page, campaign_id, errors=errors, status=422)
    try:
        await page.api.post(
            f"/api/campaigns/{campaign_id}/members", json={"contact_ids": [contact_id]}
        )
    except ApiError as problem:
        if problem.status not in (409, 422):
            raise
        errors = form_errors(page, problem)
        if problem.status == 409:
            errors = FormErrors(
                general=[page._("Die Kampagne ist beendet und bekommt keine neuen Mitglieder.")]
            )
        return await _campaign_page(page, campaign_id, errors=errors, status=problem.status)
    await page.flash(page._("Mitglied hinzugefügt."))
    return redirect(request, f"/ui/campaigns/{campaign_id}")


@router.post("/ui/campaigns/{campaign_id}/members/{contact_id}/remove")
async def remove_member(
    request: Request, campaign_id: str, contact_id: str, page: StaffPage
) -> Response:
    await page.api.delete(f"/api/campaigns/{campaign_id}/members/{contact_id}")
    await page.flash(page._("Aus der Kampagne entfernt."))
    return redirect(request, f"/ui/campaigns/{campaign_id}")


@router.post("/ui/campaigns/{campaign_id}/retire")
async def retire(request: Request, campaign_id: str, page: StaffPage) -> Response:
    await page.api.delete(f"/api/campaigns/{campaign_id}")
    await page.flash(page._("Die Kampagne ist beendet."))
    return redirect(request, f"/ui/campaigns/{campaign_id}")
