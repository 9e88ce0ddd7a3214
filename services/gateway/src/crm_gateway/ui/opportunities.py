"""Verkaufschancen ("CRM im Ticket", seed 003): the list (with the dashboard's filters,
so a dashboard group opens its opportunities), the form with the seed's fields (CRM-Status,
Abschlusschance, Umsatzpotenzial, Kampagnen, Produkte, voraussichtliche Benutzeranzahl),
and deleting one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from crm_gateway.ui.client import ApiError, gather
from crm_gateway.ui.context import Page, StaffPage, redirect
from crm_gateway.ui.crm_choices import crm_choices
from crm_gateway.ui.dashboard import chosen_contact, dashboard_filters, filter_form
from crm_gateway.ui.forms import FormErrors, form_errors

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
FIELDS = (
    "contact_id",
    "title",
    "crm_status",
    "closing_probability",
    "revenue_potential",
    "expected_users",
    "campaign_ids",
    "products",
    "assignee_id",
)


def decimal_text(text: str) -> str:
    """An amount as typed in Germany (``12.500,50``) or in English (``12500.50``), as the
    API reads it; anything else goes to the API as typed (it names the field)."""
    text = text.strip().replace(" ", "").replace("€", "")
    if "," in text:
        return text.replace(".", "").replace(",", ".")
    return text


async def _form_page(
    page: Page,
    *,
    opportunity: dict[str, Any] | None,
    form: Mapping[str, Any],
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    choices, unread = await gather(
        crm_choices(page, form.get("contact_id") or None),
        page.api.get("/api/notifications", limit=1),
    )
    return page.render(
        "opportunities/form.html",
        opportunity=opportunity,
        form=form,
        errors=errors,
        unread=unread["unread"],
        section="dashboard",
        status=status,
        **choices,
    )


async def _submitted(request: Request) -> dict[str, Any]:
    """The form as typed (for showing it again) with the lists as lists."""
    data = await request.form()
    form: dict[str, Any] = {k: v for k, v in data.items() if isinstance(v, str)}
    form["campaign_ids"] = [str(v) for v in data.getlist("campaign_ids")]
    form["products"] = [str(v) for v in data.getlist("products")]
    return form


def _body(form: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    def number(name: str) -> Any:
        text = str(form.get(name, "")).strip()
        return text if text else None

    body: dict[str, Any] = {
        "contact_id": form.get("contact_id") or None,
        "title": str(form.get("title", "")).strip(),
        "crm_status": form.get("crm_status", ""),
        "closing_probability": number("closing_probability"),
        "revenue_potential": decimal_text(str(form.get("revenue_potential", ""))) or None,
        "expected_users": number("expected_users"),
        "campaign_ids": form.get("campaign_ids", []),
        "products": form.get("products", []),
        "assignee_id": form.get("assignee_id") or None,
    }
    if creating:  # a new one: what is not given is left to the API's defaults and checks
        return {k: v for k, v in body.items() if v is not None or k == "contact_id"}
    nullable = ("expected_users", "assignee_id")  # emptied in the form: no longer set
    return {k: v for k, v in body.items() if v is not None or k in nullable}


def _as_form(opportunity: Mapping[str, Any]) -> dict[str, Any]:
    return {name: opportunity.get(name) for name in FIELDS}


@router.get("/ui/opportunities")
async def opportunities(request: Request, page: StaffPage) -> Response:
    """The list with the dashboard's filters; the filter form fetches the results alone
    (htmx, the URL follows), "Weitere laden" the next rows."""
    params = request.query_params
    filters = dashboard_filters(params)
    cursor = params.get("cursor")
    call: list[tuple[str, Any]] = [*filters, ("limit", PAGE_SIZE)]
    if cursor:
        call.append(("cursor", cursor))
    results_only = page.htmx and (
        bool(cursor) or request.headers.get("hx-target") == "opportunity-results"
    )

    async def listed() -> dict[str, Any]:
        try:
            result: dict[str, Any] = await page.api.get_params("/api/opportunities", call)
        except ApiError as problem:
            if problem.status != 422:
                raise
            # a filter the service refuses ("bis" below "von"): said at the field
            return {"items": [], "next_cursor": None, "problem": form_errors(page, problem)}
        return result

    async def offered() -> dict[str, Any]:
        """The names the rows show (staff, campaigns); the whole page also the filters'
        choices and the unread count."""
        if results_only:
            staff, campaigns = await gather(
                page.api.get("/api/staff", limit=500),
                page.api.get("/api/campaigns", limit=500, include_retired="true"),
            )
            return {"staff_list": staff["items"], "campaigns": campaigns["items"]}
        choices, unread = await gather(
            crm_choices(page, chosen_contact(filters)),
            page.api.get("/api/notifications", limit=1),
        )
        return {**choices, "unread": unread["unread"]}

    both: list[Any] = await gather(listed(), offered())
    result, choices = both
    context: dict[str, Any] = {
        **choices,
        **filter_form(params),
        "result": result,
        "problem": result.get("problem"),
        "query": urlencode(filters),
        "staff_names": {s["id"]: s["name"] for s in choices["staff_list"]},
        "campaign_names": {c["id"]: c["name"] for c in choices["campaigns"]},
        "section": "dashboard",
    }
    block = ("rows" if cursor else "results") if results_only else None
    status = 422 if context["problem"] else 200
    return page.render("opportunities/list.html", block=block, status=status, **context)


@router.get("/ui/opportunities/new")
async def new_opportunity(request: Request, page: StaffPage) -> Response:
    form = {
        "contact_id": request.query_params.get("contact_id", ""),
        "closing_probability": 50,
        "assignee_id": page.staff.staff_id if page.staff else "",
        "campaign_ids": [],
        "products": [],
    }
    return await _form_page(page, opportunity=None, form=form)


@router.post("/ui/opportunities")
async def create_opportunity(request: Request, page: StaffPage) -> Response:
    form = await _submitted(request)
    if not form.get("contact_id"):
        errors = FormErrors(fields={"contact_id": page._("Bitte wählen Sie einen Kontakt.")})
        return await _form_page(page, opportunity=None, form=form, errors=errors, status=422)
    try:
        made = await page.api.post("/api/opportunities", json=_body(form, creating=True))
    except ApiError as problem:
        if problem.status not in (404, 409, 422):
            raise
        errors = form_errors(page, problem, known_fields=dict.fromkeys(FIELDS))
        return await _form_page(page, opportunity=None, form=form, errors=errors, status=422)
    await page.flash(page._("Verkaufschance „%(title)s“ angelegt.") % {"title": made["title"]})
    return redirect(request, f"/ui/opportunities/{made['id']}")


@router.get("/ui/opportunities/{opportunity_id}")
async def opportunity(opportunity_id: str, page: StaffPage) -> Response:
    found = await page.api.get(f"/api/opportunities/{opportunity_id}")
    return await _form_page(page, opportunity=found, form=_as_form(found))


@router.post("/ui/opportunities/{opportunity_id}")
async def update_opportunity(request: Request, opportunity_id: str, page: StaffPage) -> Response:
    form = await _submitted(request)
    found = await page.api.get(f"/api/opportunities/{opportunity_id}")
    try:
        await page.api.patch(
            f"/api/opportunities/{opportunity_id}", json=_body(form, creating=False)
        )
    except ApiError as problem:
        if problem.status not in (404, 409, 422):
            raise
        errors = form_errors(page, problem, known_fields=dict.fromkeys(FIELDS))
        return await _form_page(page, opportunity=found, form=form, errors=errors, status=422)
    await page.flash(page._("Verkaufschance gespeichert."))
    return redirect(request, f"/ui/opportunities/{opportunity_id}")


@router.post("/ui/opportunities/{opportunity_id}/delete")
async def delete_opportunity(request: Request, opportunity_id: str, page: StaffPage) -> Response:
    await page.api.delete(f"/api/opportunities/{opportunity_id}")
    await page.flash(page._("Verkaufschance gelöscht."))
    return redirect(request, "/ui/opportunities")
