"""Kundenhistory on the contact's page (seed 000): one entry at a time, Neu/Ändern/Löschen/OK."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from crm_gateway.ui.client import ApiError
from crm_gateway.ui.contact.page import after_change, refused
from crm_gateway.ui.context import StaffPage
from crm_gateway.ui.forms import blank_to_none, form_data

router = APIRouter(include_in_schema=False)


def history_body(form: Mapping[str, str]) -> dict[str, Any]:
    return {
        **blank_to_none(
            form,
            "date",
            "staff_initials",
            "action",
            "info",
            "field1",
            "field2",
            "field3",
            "field4",
            "text",
        ),
        "field5": form.get("field5") == "true",
        "field6": form.get("field6") == "true",
    }


@router.post("/ui/contacts/{contact_id}/history")
async def save_history_entry(request: Request, contact_id: str, page: StaffPage) -> Response:
    """ "OK" of the history form: a new entry, or the changed one (``entry_id``)."""
    form = await form_data(request)
    entry_id = form.get("entry_id", "")
    body = history_body(form)
    position = int(form.get("entry", "1") or 1) if form.get("entry", "1").isdigit() else 1
    try:
        if entry_id:
            await page.api.patch(f"/api/history/{entry_id}", json=body)
        else:
            body = {k: v for k, v in body.items() if v is not None}
            await page.api.post(f"/api/contacts/{contact_id}/history", json=body)
            position = 1  # newest first: the new entry is the first
    except ApiError as problem:
        return await refused(
            page,
            contact_id,
            "kundenhistory",
            problem,
            entry=position,
            form=form,
            editing=entry_id or "new",
        )
    return await after_change(
        page, contact_id, "kundenhistory", page._("Historieneintrag gespeichert."), entry=position
    )


@router.post("/ui/contacts/{contact_id}/history/{entry_id}/delete")
async def delete_history_entry(
    request: Request, contact_id: str, entry_id: str, page: StaffPage
) -> Response:
    await page.api.delete(f"/api/history/{entry_id}")
    return await after_change(
        page, contact_id, "kundenhistory", page._("Historieneintrag gelöscht.")
    )
