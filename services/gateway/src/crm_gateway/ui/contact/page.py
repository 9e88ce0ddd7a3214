"""The contact's page (``/ui/contacts/{id}``): its head (status, number, assignment,
credit hold) and its sections Stammdaten, CRM, Kundenhistory, Interaktionen,
Kontaktvorgänge, Kampagnen and Verlauf.

Each section is a template of its own (``contact/<section>.html``), and a change in one
section answers with that section alone (htmx swaps it). The page's first answer holds
the head and the sections at the top (:data:`FIRST`); the sections further down
(:data:`LATER`) follow in one request htmx makes as soon as the page is there. Together
they ask the API for what a whole page did (only the contact itself twice), but the top
of the page is there after half of it: 14 concurrent calls took ~150 ms at p95.
A browser without JavaScript gets the whole page in one answer (``?all=1``: a
``<noscript>`` refresh leads there, and so does every redirect after a change).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from crm_gateway.ui.client import ApiError, gather
from crm_gateway.ui.context import Page, StaffPage, redirect
from crm_gateway.ui.forms import FormErrors, form_errors, renamed
from crm_shared.timezones import BERLIN

router = APIRouter(include_in_schema=False)

SECTIONS = (
    ("stammdaten", "Stammdaten"),
    ("crm", "CRM"),
    ("kundenhistory", "Kundenhistory"),
    ("interaktionen", "Interaktionen"),
    ("kontaktvorgaenge", "Kontaktvorgänge"),
    ("kampagnen", "Kampagnen"),
    ("verlauf", "Verlauf"),
)
LIMITED = ("inbox", "archived")
"""Statuses with limited functions (seed 002): no interactions, procedures, history
entries or campaign memberships until the contact is accepted or restored."""


def _url(contact_id: str, anchor: str = "") -> str:
    """The whole page (a browser without JavaScript is sent here after a change)."""
    return f"/ui/contacts/{contact_id}?all=1" + (f"#{anchor}" if anchor else "")


async def _or_none(call: Awaitable[Any]) -> Any:
    """An answer some part of the page can do without (404: nothing to show)."""
    try:
        return await call
    except ApiError as problem:
        if problem.status in (404, 409, 422):
            return None
        raise


class ContactData:
    """What the contact's page shows, read with one round of concurrent API calls."""

    def __init__(self, page: Page, contact_id: str) -> None:
        self.page = page
        self.contact_id = contact_id
        self.values: dict[str, Any] = {}

    async def load(self, *parts: str, entry: int = 1) -> dict[str, Any]:
        api = self.page.api
        cid = self.contact_id
        readers: dict[str, Callable[[], Awaitable[Any]]] = {
            "contact": lambda: api.get(f"/api/contacts/{cid}"),
            "persons": lambda: api.get("/api/contacts", company_id=cid, limit=100),
            "number_ranges": lambda: api.get("/api/number-ranges", limit=500),
            "staff_list": lambda: api.get("/api/staff", limit=500),
            "competences": lambda: api.get("/api/competences", limit=500),
            "crm_settings": lambda: api.get("/api/crm/settings"),
            "history_settings": lambda: api.get("/api/history/settings"),
            "history": lambda: api.get(
                f"/api/contacts/{cid}/history", offset=max(entry, 1) - 1, limit=1
            ),
            "interactions": lambda: api.get("/api/interactions", contact_id=cid, limit=50),
            "procedures": lambda: api.get("/api/procedures", contact_id=cid, limit=50),
            "memberships": lambda: api.get(
                "/api/campaigns", contact_id=cid, include_retired="true", limit=500
            ),
            "campaigns": lambda: api.get("/api/campaigns", limit=500),
            "timeline": lambda: _or_none(api.get(f"/api/contacts/{cid}/timeline", limit=100)),
            "audit": lambda: self._audit(),
            "unread": lambda: api.get("/api/notifications", limit=1),
        }
        names = [p for p in parts if p not in self.values]
        answers = await gather(*(readers[name]() for name in names))
        self.values.update(zip(names, answers, strict=True))
        values = dict(self.values)
        if "contact" in values:
            contact = values["contact"]
            values["limited"] = contact["status"] in LIMITED
            if contact.get("company_id") and "company" not in self.values:
                values["company"] = await _or_none(
                    api.get(f"/api/contacts/{contact['company_id']}")
                )
                self.values["company"] = values["company"]
        if "history" in values:
            values["entry_position"] = max(entry, 1)
        if "unread" in values:
            values["unread"] = values["unread"]["unread"]
        return values

    async def _audit(self) -> Any:
        """Who changed what and when (the audit trail): for admins only, under Verlauf."""
        staff = self.page.staff
        if staff is None or not staff.is_admin:
            return None
        return await _or_none(self.page.api.get("/api/audit", contact_id=self.contact_id, limit=50))


EVERYTHING = (
    "contact",
    "persons",
    "number_ranges",
    "staff_list",
    "competences",
    "crm_settings",
    "history_settings",
    "history",
    "interactions",
    "procedures",
    "memberships",
    "campaigns",
    "timeline",
    "audit",
    "unread",
)
SECTION_NEEDS: dict[str, tuple[str, ...]] = {
    "head": ("contact", "number_ranges", "staff_list", "competences"),
    "stammdaten": ("contact", "persons"),
    "crm": ("contact", "crm_settings"),
    "kundenhistory": ("contact", "history", "history_settings"),
    "interaktionen": ("contact", "interactions", "staff_list"),
    "kontaktvorgaenge": ("contact", "procedures", "staff_list", "campaigns", "persons"),
    "kampagnen": ("contact", "memberships", "campaigns"),
    "verlauf": ("contact", "timeline", "audit"),
}


FIRST = ("head", "stammdaten", "crm")
"""The sections in the page's first answer."""
LATER = ("kundenhistory", "interaktionen", "kontaktvorgaenge", "kampagnen", "verlauf")
"""The sections that follow in a second request."""


def _needs(sections: tuple[str, ...]) -> tuple[str, ...]:
    """What the API is asked for to show ``sections``, each once."""
    return tuple(dict.fromkeys(need for name in sections for need in SECTION_NEEDS[name]))


def _context(values: Mapping[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "sections": SECTIONS,
        "later_sections": LATER,
        "section": "contacts",
        "errors": None,
        "form": {},
        "editing": None,
        "now_local": datetime.now(BERLIN).strftime("%Y-%m-%dT%H:%M"),
        "today": date.today().isoformat(),
        **values,
        **more,
    }


async def render_section(
    page: Page, contact_id: str, name: str, *, entry: int = 1, status: int = 200, **more: Any
) -> Response:
    """One section of the page (``head`` for the top), as htmx swaps it."""
    values = await ContactData(page, contact_id).load(*SECTION_NEEDS[name], entry=entry)
    return page.render(f"contact/{name}.html", status=status, **_context(values, **more))


async def render_head_and_below(page: Page, contact_id: str, message: str) -> Response:
    """The head after a change of status, and the sections below with it (out of band)."""
    values = await ContactData(page, contact_id).load(*_needs(("head", *LATER)))
    return page.render("contact/status_changed.html", **_context(values, announce=message))


async def after_change(
    page: Page, contact_id: str, name: str, message: str | None = None, *, entry: int = 1
) -> Response:
    """The answer to a change in section ``name``: the section (htmx) or the page."""
    if message:
        if page.htmx:
            return await render_section(page, contact_id, name, entry=entry, announce=message)
        await page.flash(message)
    if page.htmx:
        return await render_section(page, contact_id, name, entry=entry)
    anchor = "" if name == "head" else name
    return redirect(page.request, _url(contact_id, anchor))


async def refused(
    page: Page,
    contact_id: str,
    name: str,
    problem: ApiError | FormErrors,
    *,
    entry: int = 1,
    **more: Any,
) -> Response:
    """A change refused (by the API, or a field the page could not read): the section
    again, with the messages and what was typed."""
    if isinstance(problem, FormErrors):
        errors, status = problem, 422
    elif problem.status in (409, 422):
        errors, status = renamed(form_errors(page, problem), FORM_NAMES), problem.status
    else:
        raise problem
    if not page.htmx:
        # no JavaScript: the whole page with the section's errors
        values = await ContactData(page, contact_id).load(*EVERYTHING, entry=entry)
        return page.render(
            "contact/page.html",
            status=status,
            **_context(values, failed=name, errors=errors, whole=True, **more),
        )
    return await render_section(
        page, contact_id, name, entry=entry, status=status, errors=errors, **more
    )


@router.get("/ui/contacts/{contact_id}")
async def contact_page(request: Request, contact_id: str, page: StaffPage) -> Response:
    """The head and the first sections; the rest follows (``?all=1``: all at once)."""
    entry = _entry_param(request)
    if request.query_params.get("all") == "1":
        values = await ContactData(page, contact_id).load(*EVERYTHING, entry=entry)
        return page.render("contact/page.html", **_context(values, failed=None, whole=True))
    values = await ContactData(page, contact_id).load(*_needs(FIRST), "unread", entry=entry)
    return page.render("contact/page.html", **_context(values, failed=None, whole=False))


@router.get("/ui/contacts/{contact_id}/later")
async def later_sections(request: Request, contact_id: str, page: StaffPage) -> Response:
    """The sections below the first ones (htmx asks right after the page arrived)."""
    if not page.htmx:
        return redirect(request, _url(contact_id))
    values = await ContactData(page, contact_id).load(*_needs(LATER))
    return page.render("contact/later.html", **_context(values, failed=None))


@router.get("/ui/contacts/{contact_id}/section/{name}")
async def contact_section(
    request: Request, contact_id: str, name: str, page: StaffPage
) -> Response:
    """A section alone: the history pager, "Neu" and "Ändern" forms, "Abbrechen"."""
    if name not in SECTION_NEEDS:
        raise ApiError(404, f"no section {name}")
    editing = request.query_params.get("edit") or None
    entry = _entry_param(request)
    if not page.htmx:  # no JavaScript: the whole page, this section in that state
        values = await ContactData(page, contact_id).load(*EVERYTHING, entry=entry)
        return page.render(
            "contact/page.html", **_context(values, failed=name, editing=editing, whole=True)
        )
    return await render_section(page, contact_id, name, entry=entry, editing=editing)


def _entry_param(request: Request) -> int:
    raw = request.query_params.get("entry", "1")
    return int(raw) if raw.isdigit() and int(raw) > 0 else 1


FORM_NAMES = {"duration_minutes": "duration"}
"""API fields the forms show under another name."""
