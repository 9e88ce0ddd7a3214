"""Einstellungen (``/ui/settings``, admins only): the history's pick lists and field labels,
number ranges, the CRM lists of seed 003, competences, staff and the reminder rules.

Each part is a section of one page with a form of its own; a change answers with that
section (htmx) or the page. The lists are edited as text, one value per line; the ranges
of company sizes and revenue groups as ``Name; von; bis`` per line (``bis`` empty: open)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from crm_gateway.ui.client import ApiError, gather
from crm_gateway.ui.context import Page, StaffPage, redirect
from crm_gateway.ui.forms import FormErrors, form_data, form_errors

router = APIRouter(include_in_schema=False)

SECTIONS = ("history", "ranges", "crm", "competences", "staff", "reminders")


def _admin(page: Page) -> None:
    if page.staff is None or not page.staff.is_admin:
        raise ApiError(403, "admin role required")


async def _values(page: Page) -> dict[str, Any]:
    api = page.api
    history, ranges, crm, competences, staff, rules, unread = await gather(
        api.get("/api/history/settings"),
        api.get("/api/number-ranges", limit=500),
        api.get("/api/crm/settings"),
        api.get("/api/competences", limit=500),
        api.get("/api/staff", limit=500),
        api.get("/api/reminders/rules"),
        api.get("/api/notifications", limit=1),
    )
    return {
        "history_settings": history,
        "ranges": ranges["items"],
        "crm": crm,
        "competences": competences["items"],
        "staff_list": staff["items"],
        "rules": rules,
        "unread": unread["unread"],
        "section": "settings",
    }


async def _render(
    page: Page,
    *,
    part: str | None = None,
    form: Mapping[str, Any] | None = None,
    errors: FormErrors | None = None,
    announce: str | None = None,
    status: int = 200,
    editing: str | None = None,
) -> Response:
    """The page, or on an htmx request the section ``part`` alone: the one a change was
    made in (with its message, or the errors beside the fields and what was typed), or the
    one whose item ``editing`` (a competence's or staff member's id) gets its dialog."""
    values = await _values(page)
    context = {
        **values,
        "part": part,
        "editing": editing,
        "form": form or {},
        "errors": errors,
        "announce": announce,
        "status": status,
    }
    if page.htmx and part:
        return page.render(f"settings/{part}.html", **context)
    return page.render("settings/page.html", **context)


@router.get("/ui/settings")
async def settings_page(
    page: StaffPage, competence: str | None = None, staff: str | None = None
) -> Response:
    """The page; ``?competence=<id>`` or ``?staff=<id>`` opens that one's edit dialog
    ("Ändern"). Only that dialog is rendered, so the page stays small with many staff
    members and competences (each competence's dialog lists every staff member)."""
    _admin(page)
    if competence:
        return await _render(page, part="competences", editing=competence)
    if staff:
        return await _render(page, part="staff", editing=staff)
    return await _render(page)


def lines(text: str) -> list[str]:
    """One value per line, empty lines left out, each once."""
    return list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))


class Unreadable(ValueError):
    """A line of a range list the page cannot read (said at its field)."""


def ranges(text: str, number: Callable[[str], Any]) -> list[dict[str, Any]]:
    """``Name; von; bis`` per line (``bis`` empty: no upper bound)."""
    found = []
    for n, line in enumerate(lines(text), start=1):
        parts = [part.strip() for part in line.split(";")]
        if len(parts) != 3 or not parts[0]:
            raise Unreadable(n)
        try:
            found.append(
                {
                    "name": parts[0],
                    "min": number(parts[1] or "0"),
                    "max": number(parts[2]) if parts[2] else None,
                }
            )
        except (ValueError, InvalidOperation) as exc:
            raise Unreadable(n) from exc
    return found


def _money(text: str) -> str:
    """An amount as typed: ``12.500,50`` (German) or ``12500.50``."""
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    return str(Decimal(text))


def _rule(page: Page, problem: ApiError) -> FormErrors:
    """The problem's messages beside the fields; the rules of staff and competences in
    the reader's words."""
    errors = form_errors(page, problem)
    messages = {
        "last_admin": page._(
            "Der letzte aktive Administrator behält diese Rolle und bleibt aktiv: "
            "machen Sie zuerst einen anderen Mitarbeiter zum Administrator."
        ),
        "competence_exists": page._("Eine Kompetenz mit diesem Namen gibt es schon."),
    }
    message = messages.get(str(problem.body.get("code")))
    field = problem.body.get("field")
    if message and isinstance(field, str):
        errors.fields[field] = message
    return errors


async def _save(
    page: Page,
    section: str,
    form: Mapping[str, Any],
    change: Callable[[], Awaitable[Any]],
    done: str,
    editing: str | None = None,
) -> Response:
    """Make the change; a refused one shows the section again with the messages beside
    the fields and what was typed (in the dialog of the item ``editing``, if any)."""
    try:
        await change()
    except ApiError as problem:
        if problem.status not in (409, 422):
            raise
        return await _render(
            page,
            part=section,
            form=form,
            errors=_rule(page, problem),
            status=problem.status,
            editing=editing,
        )
    if page.htmx:
        return await _render(page, part=section, announce=done)
    await page.flash(done)
    return redirect(page.request, f"/ui/settings#{section}")


@router.post("/ui/settings/history")
async def save_history(request: Request, page: StaffPage) -> Response:
    _admin(page)
    form = await form_data(request)
    body = {
        "actions": lines(form.get("actions", "")),
        "infos": lines(form.get("infos", "")),
        "field_labels": {f"field{n}": form.get(f"field{n}", "").strip() for n in range(1, 7)},
    }
    return await _save(
        page,
        "history",
        form,
        lambda: page.api.put("/api/history/settings", json=body),
        page._("Einstellungen der Kundenhistory gespeichert."),
    )


@router.post("/ui/settings/ranges")
async def add_range(request: Request, page: StaffPage) -> Response:
    _admin(page)
    form = await form_data(request)
    body: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "prefix": form.get("prefix", ""),
        "suffix": form.get("suffix", ""),
        "next_value": form.get("next_value") or 1,
        "width": form.get("width") or 0,
    }
    return await _save(
        page,
        "ranges",
        form,
        lambda: page.api.post("/api/number-ranges", json=body),
        page._("Nummernkreis angelegt."),
    )


@router.post("/ui/settings/crm")
async def save_crm(request: Request, page: StaffPage) -> Response:
    _admin(page)
    form = await form_data(request)
    try:
        sizes = ranges(form.get("company_sizes", ""), int)
    except Unreadable as bad:
        return await _unreadable(page, form, "company_sizes", bad)
    try:
        revenue = ranges(form.get("revenue_groups", ""), _money)
    except Unreadable as bad:
        return await _unreadable(page, form, "revenue_groups", bad)
    body = {
        "opportunity_statuses": lines(form.get("opportunity_statuses", "")),
        "partner_statuses": lines(form.get("partner_statuses", "")),
        "company_sizes": sizes,
        "revenue_groups": revenue,
        "company_groups": lines(form.get("company_groups", "")),
        "products": lines(form.get("products", "")),
    }
    return await _save(
        page,
        "crm",
        form,
        lambda: page.api.put("/api/crm/settings", json=body),
        page._("CRM-Listen gespeichert."),
    )


async def _unreadable(page: Page, form: Mapping[str, Any], field: str, bad: Unreadable) -> Response:
    message = page._("Zeile %(n)s: bitte als „Name; von; bis“ angeben.") % {"n": bad.args[0]}
    errors = FormErrors(fields={field: message})
    return await _render(page, part="crm", form=form, errors=errors, status=422)


async def _competence_form(request: Request) -> tuple[dict[str, Any], dict[str, Any]]:
    """A competence's form as typed (to show again) and as the API's body."""
    form = await form_data(request)
    members = [str(m) for m in (await request.form()).getlist("member_ids")]
    return {**form, "member_ids": members}, {
        "name": form.get("name", "").strip(),
        "member_ids": members,
    }


@router.post("/ui/settings/competences")
async def add_competence(request: Request, page: StaffPage) -> Response:
    _admin(page)
    form, body = await _competence_form(request)
    return await _save(
        page,
        "competences",
        form,
        lambda: page.api.post("/api/competences", json=body),
        page._("Kompetenz angelegt."),
    )


@router.post("/ui/settings/competences/{competence_id}")
async def edit_competence(competence_id: str, request: Request, page: StaffPage) -> Response:
    _admin(page)
    form, body = await _competence_form(request)
    return await _save(
        page,
        "competences",
        form,
        lambda: page.api.patch(f"/api/competences/{competence_id}", json=body),
        page._("Kompetenz gespeichert."),
        editing=competence_id,
    )


@router.post("/ui/settings/staff")
async def add_staff(request: Request, page: StaffPage) -> Response:
    _admin(page)
    form = await form_data(request)
    roles = [str(r) for r in (await request.form()).getlist("roles")]
    body = {
        "username": form.get("username", "").strip(),
        "password": form.get("password", ""),
        "name": form.get("name", "").strip(),
        "initials": form.get("initials", "").strip() or None,
        "email": form.get("email", "").strip() or None,
        "roles": roles,
        "language": form.get("language", "de"),
    }
    kept = {k: v for k, v in form.items() if k != "password"}
    return await _save(
        page,
        "staff",
        {**kept, "roles": roles},
        lambda: page.api.post("/api/staff", json=body),
        page._("Mitarbeiter angelegt."),
    )


@router.post("/ui/settings/staff/{staff_id}")
async def edit_staff(staff_id: str, request: Request, page: StaffPage) -> Response:
    """Change a staff member: every field of the dialog; the password only when one is
    typed. An unchecked "Aktiv" deactivates."""
    _admin(page)
    form = await form_data(request)
    roles = [str(r) for r in (await request.form()).getlist("roles")]
    typed = {k: v for k, v in form.items() if k != "password"}
    kept: dict[str, Any] = {**typed, "roles": roles, "active": form.get("active", "false")}
    if not roles:
        errors = FormErrors(fields={"roles": page._("Bitte wählen Sie mindestens eine Rolle.")})
        return await _render(
            page, part="staff", form=kept, errors=errors, status=422, editing=staff_id
        )
    body: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "initials": form.get("initials", "").strip() or None,
        "email": form.get("email", "").strip() or None,
        "roles": roles,
        "language": form.get("language", "de"),
        "active": form.get("active") == "true",
    }
    if form.get("password"):
        body["password"] = form["password"]
    return await _save(
        page,
        "staff",
        kept,
        lambda: page.api.patch(f"/api/staff/{staff_id}", json=body),
        page._("Mitarbeiter gespeichert."),
        editing=staff_id,
    )


@router.post("/ui/settings/reminders")
async def save_rules(request: Request, page: StaffPage) -> Response:
    _admin(page)
    form = await form_data(request)
    body = {
        "clear_on_completion": form.get("clear_on_completion") == "true",
        "email_lead_hours": form.get("email_lead_hours") or 0,
    }
    return await _save(
        page,
        "reminders",
        form,
        lambda: page.api.put("/api/reminders/rules", json=body),
        page._("Erinnerungsregeln gespeichert."),
    )
