"""Interaktionen on the contact's page (seed 001)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from crm_gateway.ui.client import ApiError
from crm_gateway.ui.contact.page import after_change, refused
from crm_gateway.ui.context import StaffPage
from crm_gateway.ui.forms import aware, blank_to_none, form_data

router = APIRouter(include_in_schema=False)


@router.post("/ui/contacts/{contact_id}/interactions")
async def log_interaction(request: Request, contact_id: str, page: StaffPage) -> Response:
    form = await form_data(request)
    body: dict[str, Any] = {
        "contact_id": contact_id,
        "topic": form.get("topic", "").strip(),
        "kind": form.get("kind", ""),
        "text": form.get("text", "").strip(),
        "occurred_at": aware(form.get("occurred_at", "")),
        **blank_to_none(
            form,
            "follow_up_on",
            "recorded_by",
            "contact_name",
            "contact_phone",
            "sales_contact",
            "salesperson",
            "reference",
        ),
    }
    body = {k: v for k, v in body.items() if v is not None}
    try:
        await page.api.post("/api/interactions", json=body)
    except ApiError as problem:
        return await refused(page, contact_id, "interaktionen", problem, form=form, editing="new")
    return await after_change(page, contact_id, "interaktionen", page._("Interaktion gespeichert."))


@router.post("/ui/contacts/{contact_id}/interactions/{interaction_id}/delete")
async def delete_interaction(
    request: Request, contact_id: str, interaction_id: str, page: StaffPage
) -> Response:
    await page.api.delete(f"/api/interactions/{interaction_id}")
    return await after_change(page, contact_id, "interaktionen", page._("Interaktion gelöscht."))
