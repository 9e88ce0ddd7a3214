"""The head of a contact's page: status, customer number, assignment, delete."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from crm_gateway.ui.client import ApiError
from crm_gateway.ui.contact.page import LIMITED, after_change, refused, render_head_and_below
from crm_gateway.ui.context import Page, StaffPage, redirect
from crm_gateway.ui.forms import form_data

router = APIRouter(include_in_schema=False)


@router.post("/ui/contacts/{contact_id}/status")
async def change_status(request: Request, contact_id: str, page: StaffPage) -> Response:
    form = await form_data(request)
    body = {"status": form.get("status", ""), "confirm": form.get("confirm") == "true"}
    try:
        contact = await page.api.post(f"/api/contacts/{contact_id}/status", json=body)
    except ApiError as problem:
        return await refused(page, contact_id, "head", problem)
    message = page._("Status geändert.") + " " + _status_word(page, contact)
    was_limited = form.get("from") in LIMITED
    if page.htmx and was_limited != (contact["status"] in LIMITED):
        # what the sections below offer changes with it (seed 002's limited functions)
        return await render_head_and_below(page, contact_id, message)
    return await after_change(page, contact_id, "head", message)


def _status_word(page: Page, contact: Mapping[str, Any]) -> str:
    words = {
        "inbox": page._("Eingang"),
        "prospect": page._("Interessent"),
        "customer": page._("Kunde"),
        "archived": page._("Archiv"),
    }
    return words.get(str(contact["status"]), str(contact["status"]))


@router.post("/ui/contacts/{contact_id}/customer-number")
async def generate_number(request: Request, contact_id: str, page: StaffPage) -> Response:
    form = await form_data(request)
    body = {"number_range_id": form.get("number_range_id", "")}
    try:
        contact = await page.api.post(f"/api/contacts/{contact_id}/customer-number", json=body)
    except ApiError as problem:
        return await refused(page, contact_id, "head", problem)
    message = page._("Kundennummer %(number)s vergeben.") % {"number": contact["customer_number"]}
    return await after_change(page, contact_id, "head", message)


@router.post("/ui/contacts/{contact_id}/assignment")
async def change_assignment(request: Request, contact_id: str, page: StaffPage) -> Response:
    form = await form_data(request)
    mode = form.get("mode", "all")
    assignment: dict[str, Any] = {"mode": mode}
    if mode == "staff":
        assignment["staff_id"] = form.get("staff_id") or None
    elif mode == "competence":
        assignment["competence_id"] = form.get("competence_id") or None
    try:
        await page.api.patch(f"/api/contacts/{contact_id}", json={"assignment": assignment})
    except ApiError as problem:
        return await refused(page, contact_id, "head", problem, form=form)
    return await after_change(page, contact_id, "head", page._("Zuweisung gespeichert."))


@router.post("/ui/contacts/{contact_id}/delete")
async def delete_contact(request: Request, contact_id: str, page: StaffPage) -> Response:
    """Permanent delete (after the confirmation dialog): gone in every service."""
    contact = await page.api.get(f"/api/contacts/{contact_id}")
    await page.api.delete(f"/api/contacts/{contact_id}")
    await page.flash(page._("„%(name)s“ wurde endgültig gelöscht.") % {"name": contact["name"]})
    return redirect(request, "/ui/contacts")
