"""Erinnerungen (``/ui/reminders``, seed 004): the staff member's open reminders, due ones
marked, each linked to its procedure or interaction on the contact's page. The list
refreshes itself (htmx, every few seconds), so a reminder cleared by the completion of its
procedure goes away while the page is open."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from crm_gateway.ui.client import gather
from crm_gateway.ui.context import StaffPage, redirect

router = APIRouter(include_in_schema=False)

REFRESH_SECONDS = 5


def _link(reminder: dict[str, Any]) -> str:
    anchor = "kontaktvorgaenge" if reminder.get("procedure_id") else "interaktionen"
    return f"/ui/contacts/{reminder['contact_id']}#{anchor}"


@router.get("/ui/reminders")
async def reminders(request: Request, page: StaffPage) -> Response:
    answer, unread = await gather(
        page.api.get("/api/reminders", limit=500), page.api.get("/api/notifications", limit=1)
    )
    now = datetime.now(UTC)
    items = [
        {
            **item,
            "link": _link(item),
            "due": datetime.fromisoformat(item["due_at"]) <= now,
        }
        for item in answer["items"]
    ]
    return page.render(
        "reminders.html",
        block="list" if page.htmx else None,
        items=items,
        unread=unread["unread"],
        refresh=REFRESH_SECONDS,
        section="reminders",
    )


@router.post("/ui/reminders/{reminder_id}/dismiss")
async def dismiss(request: Request, reminder_id: str, page: StaffPage) -> Response:
    await page.api.delete(f"/api/reminders/{reminder_id}")
    await page.flash(page._("Erinnerung erledigt."))
    return redirect(request, "/ui/reminders")
