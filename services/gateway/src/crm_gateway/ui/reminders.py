"""Erinnerungen (``/ui/reminders``, seed 004): the staff member's open reminders, due ones
marked, each linked to its procedure's or interaction's row on the contact's page.

The list stays live two ways: at once when the notification stream brings a reminder
that fell due (``app.js`` asks for the list again), and every few seconds (htmx) for what
the stream does not carry: a reminder created, or cleared by the completion of its
procedure, goes away while the page is open."""

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
    """The procedure's or interaction's own row on the contact's page (``app.js`` brings
    it into view and gives it the focus once the sections have come)."""
    if reminder.get("procedure_id"):
        anchor = f"procedure-{reminder['procedure_id']}"
    else:
        anchor = f"interaction-{reminder['interaction_id']}"
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
