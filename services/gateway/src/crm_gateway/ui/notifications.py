"""Benachrichtigungen (``/ui/notifications``): the staff member's notifications, to read
and mark as read. The count in every page's header follows the live stream (app.js)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from starlette.responses import Response

from crm_gateway.ui.context import StaffPage, redirect

router = APIRouter(include_in_schema=False)

ANCHORS = {"portal_message": "interaktionen", "reminder_due": "kontaktvorgaenge"}
"""Where on the contact's page a notification of a kind points to (its section)."""
ROWS = {"procedures": "procedure", "interactions": "interaction"}
"""A notification about one procedure or interaction (its ``link``) points to its row."""


def _link(item: dict[str, object]) -> str | None:
    if not item.get("contact_id"):
        return None
    anchor = ANCHORS.get(str(item.get("kind")), "")
    found = re.fullmatch(r"/(procedures|interactions)/([\w-]+)", str(item.get("link") or ""))
    if found:
        anchor = f"{ROWS[found.group(1)]}-{found.group(2)}"
    return f"/ui/contacts/{item['contact_id']}" + (f"#{anchor}" if anchor else "")


@router.get("/ui/notifications")
async def notifications(request: Request, page: StaffPage) -> Response:
    answer = await page.api.get(
        "/api/notifications", limit=100, cursor=request.query_params.get("cursor")
    )
    items = [{**item, "ui_link": _link(item)} for item in answer["items"]]
    return page.render(
        "notifications.html",
        block="list" if page.htmx else None,
        items=items,
        next_cursor=answer["next_cursor"],
        unread=answer["unread"],
        section="notifications",
    )


@router.post("/ui/notifications/{notification_id}/read")
async def read_one(request: Request, notification_id: str, page: StaffPage) -> Response:
    await page.api.post(f"/api/notifications/{notification_id}/read")
    return redirect(request, "/ui/notifications")


@router.post("/ui/notifications/read-all")
async def read_all(request: Request, page: StaffPage) -> Response:
    await page.api.post("/api/notifications/read-all")
    return redirect(request, "/ui/notifications")
