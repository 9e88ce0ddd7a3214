"""The contact's page (``/ui/contacts/{id}``): its head (status, number, assignment,
credit hold) and its sections Stammdaten, CRM, Kundenhistory, Interaktionen,
Kontaktvorgänge, Kampagnen and Verlauf.

Each section is a template of its own (``contact/<section>.html``): the page includes
them all, and a change in one section answers with that section alone (htmx swaps it).
A browser without JavaScript gets the whole page back (redirect to the section's anchor).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from crm_gateway.ui.client import ApiError, gather
from crm_gateway.ui.context import Page, StaffPage, redirect
from crm_gateway.ui.forms import FormErrors, form_data, form_errors, minutes, renamed
from crm_gateway.ui.templating import BERLIN

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
    return f"/ui/contacts/{contact_id}" + (f"#{anchor}" if anchor else "")


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
    "verlauf": ("contact", "timeline"),
}


def _context(values: Mapping[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "sections": SECTIONS,
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
            **_context(values, failed=name, errors=errors, **more),
        )
    return await render_section(
        page, contact_id, name, entry=entry, status=status, errors=errors, **more
    )


FORM_NAMES = {"duration_minutes": "duration"}
"""API fields the forms show under another name."""


def _duration(page: Page, form: Mapping[str, str], required: bool) -> int | FormErrors | None:
    """The form's ``duration`` (hh:mm) in minutes, or the message for the field."""
    text = form.get("duration", "").strip()
    if not text:
        return FormErrors(fields={"duration": page._("Bitte ausfüllen.")}) if required else None
    value = minutes(text)
    if value is None:
        return FormErrors(
            fields={"duration": page._("Bitte als Stunden:Minuten angeben, z. B. 0:45.")}
        )
    return value


@router.get("/ui/contacts/{contact_id}")
async def contact_page(request: Request, contact_id: str, page: StaffPage) -> Response:
    entry = _entry_param(request)
    values = await ContactData(page, contact_id).load(*EVERYTHING, entry=entry)
    return page.render("contact/page.html", **_context(values, failed=None))


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
        return page.render("contact/page.html", **_context(values, failed=name, editing=editing))
    return await render_section(page, contact_id, name, entry=entry, editing=editing)


def _entry_param(request: Request) -> int:
    raw = request.query_params.get("entry", "1")
    return int(raw) if raw.isdigit() and int(raw) > 0 else 1


def _blank_to_none(form: Mapping[str, str], *names: str) -> dict[str, Any]:
    return {name: (form.get(name, "").strip() or None) for name in names}


# --- the head: status, customer number, assignment ----------------------------------


@router.post("/ui/contacts/{contact_id}/status")
async def change_status(request: Request, contact_id: str, page: StaffPage) -> Response:
    form = await form_data(request)
    body = {"status": form.get("status", ""), "confirm": form.get("confirm") == "true"}
    try:
        contact = await page.api.post(f"/api/contacts/{contact_id}/status", json=body)
    except ApiError as problem:
        return await refused(page, contact_id, "head", problem)
    return await after_change(
        page, contact_id, "head", page._("Status geändert.") + " " + _status_word(page, contact)
    )


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


# --- Stammdaten and CRM -----------------------------------------------------------------


@router.post("/ui/contacts/{contact_id}/master-data")
async def save_master_data(request: Request, contact_id: str, page: StaffPage) -> Response:
    form = await form_data(request)
    body: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        **_blank_to_none(form, "email", "phone"),
        "language": form.get("language", "de"),
        "credit_hold": form.get("credit_hold") == "true",
        "address": _blank_to_none(form, "street", "postal_code", "city", "country"),
    }
    if "company_id" in form:
        body["company_id"] = form.get("company_id") or None
    try:
        await page.api.patch(f"/api/contacts/{contact_id}", json=body)
    except ApiError as problem:
        return await refused(page, contact_id, "stammdaten", problem, form=form)
    return await after_change(page, contact_id, "stammdaten", page._("Stammdaten gespeichert."))


def _characteristics(text: str) -> dict[str, str]:
    """``Schlüssel=Wert`` per line (the form's way of writing the Merkmale)."""
    pairs = {}
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip():
            pairs[key.strip()] = value.strip()
    return pairs


@router.post("/ui/contacts/{contact_id}/crm")
async def save_crm(request: Request, contact_id: str, page: StaffPage) -> Response:
    raw = await request.form()
    form = await form_data(request)
    employees = form.get("employees", "").strip()
    crm: dict[str, Any] = {
        **_blank_to_none(
            form,
            "crm_status",
            "company_group",
            "company_size",
            "revenue_group",
            "data_source",
            "comment1",
            "comment2",
            "comment3",
            "comment4",
        ),
        "employees": int(employees) if employees.isdigit() else (employees or None),
        "products": [str(p) for p in raw.getlist("products")],
        "newsletter": form.get("newsletter") == "true",
        "interested": form.get("interested") == "true",
        "characteristics": _characteristics(form.get("characteristics", "")),
    }
    try:
        await page.api.patch(f"/api/contacts/{contact_id}", json={"crm": crm})
    except ApiError as problem:
        return await refused(page, contact_id, "crm", problem, form=form)
    return await after_change(page, contact_id, "crm", page._("CRM-Angaben gespeichert."))


# --- Kundenhistory ------------------------------------------------------------------------


def history_body(form: Mapping[str, str]) -> dict[str, Any]:
    return {
        **_blank_to_none(
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


# --- Interaktionen ------------------------------------------------------------------------


def _aware(local: str) -> str | None:
    """A ``datetime-local`` value (Berlin time) as ISO 8601 with its offset."""
    if not local.strip():
        return None
    try:
        return datetime.fromisoformat(local).replace(tzinfo=BERLIN).isoformat()
    except ValueError:
        return local  # the API names the field and says what is wrong


@router.post("/ui/contacts/{contact_id}/interactions")
async def log_interaction(request: Request, contact_id: str, page: StaffPage) -> Response:
    form = await form_data(request)
    body: dict[str, Any] = {
        "contact_id": contact_id,
        "topic": form.get("topic", "").strip(),
        "kind": form.get("kind", ""),
        "text": form.get("text", "").strip(),
        "occurred_at": _aware(form.get("occurred_at", "")),
        **_blank_to_none(
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


# --- Kontaktvorgänge ----------------------------------------------------------------------


@router.post("/ui/contacts/{contact_id}/procedures")
async def plan_procedure(request: Request, contact_id: str, page: StaffPage) -> Response:
    form = await form_data(request)
    duration = _duration(page, form, required=True)
    if isinstance(duration, FormErrors):
        return await refused(
            page, contact_id, "kontaktvorgaenge", duration, form=form, editing="new"
        )
    body: dict[str, Any] = {
        "contact_id": form.get("contact_id") or contact_id,
        "type": form.get("type", ""),
        "direction": form.get("direction", ""),
        "state": form.get("state", "planned"),
        "starts_at": _aware(form.get("starts_at", "")),
        "duration_minutes": duration,
        "reminder": form.get("reminder") == "true",
        "subject": form.get("subject", "").strip(),
        **_blank_to_none(form, "description", "responsible_id", "campaign_id", "contact_person_id"),
    }
    body = {k: v for k, v in body.items() if v is not None}
    try:
        await page.api.post("/api/procedures", json=body)
    except ApiError as problem:
        return await refused(
            page, contact_id, "kontaktvorgaenge", problem, form=form, editing="new"
        )
    return await after_change(
        page, contact_id, "kontaktvorgaenge", page._("Kontaktvorgang angelegt.")
    )


@router.post("/ui/contacts/{contact_id}/procedures/{procedure_id}/complete")
async def complete_procedure(
    request: Request, contact_id: str, procedure_id: str, page: StaffPage
) -> Response:
    form = await form_data(request)
    outcome = form.get("outcome", "")
    duration = _duration(page, form, required=outcome == "done")
    if isinstance(duration, FormErrors):
        return await refused(
            page, contact_id, "kontaktvorgaenge", duration, form=form, completing=procedure_id
        )
    body: dict[str, Any] = {
        "outcome": outcome,
        "note": form.get("note", "").strip() or None,
        "starts_at": _aware(form.get("starts_at", "")),
        "duration_minutes": duration,
    }
    body = {k: v for k, v in body.items() if v is not None}
    try:
        await page.api.post(f"/api/procedures/{procedure_id}/complete", json=body)
    except ApiError as problem:
        return await refused(
            page, contact_id, "kontaktvorgaenge", problem, form=form, completing=procedure_id
        )
    return await after_change(
        page, contact_id, "kontaktvorgaenge", page._("Kontaktvorgang abgeschlossen.")
    )


@router.get("/ui/contact-search")
async def contact_search(request: Request, page: StaffPage) -> Response:
    """The procedure form's contact autocomplete: up to two terms, at most ten results."""
    q = request.query_params.get("contact_q", "").strip()
    chosen = request.query_params.get("contact_id", "")
    matches: list[dict[str, Any]] = []
    problem: str | None = None
    if q:
        try:
            matches = (await page.api.get("/api/procedures/contact-search", q=q))["items"]
        except ApiError as error:
            if error.status != 422:
                raise
            problem = form_errors(page, error).summary()[0][1]
    return page.render(
        "contact/contact_matches.html", matches=matches, chosen=chosen, q=q, problem=problem
    )


# --- Kampagnen ------------------------------------------------------------------------------


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
