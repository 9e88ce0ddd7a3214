"""The contacts list (``/ui/contacts``): search, filters, groups, selection and bulk actions.

Every filter is a query parameter of ``/api/contacts`` under its API name, so the page's
URL is the list's state (bookmark it, go back to it) and "all that match" is sent to the
contacts service as the ``{filter}`` selection, never as ids collected in the browser.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from crm_gateway.ui.client import ApiError, gather
from crm_gateway.ui.context import Page, StaffPage, redirect
from crm_gateway.ui.forms import FormErrors, form_data, form_errors

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
TEXT_FILTERS = (
    "q",
    "customer_number",
    "data_source",
    "product",
    "characteristic",
    "history.staff_initials",
    "history.field1",
    "history.field2",
    "history.field3",
    "history.field4",
)
CHOICE_FILTERS = (
    "kind",
    "status",
    "assigned_to",
    "group_id",
    "campaign_id",
    "crm_status",
    "company_group",
    "company_size",
    "revenue_group",
    "history.action",
    "history.info",
)
YES_NO_FILTERS = ("credit_hold", "newsletter", "interested", "history.field5", "history.field6")
NUMBER_FILTERS = ("employees_from", "employees_to")
DATE_FILTERS = ("history.date_from", "history.date_to")
FILTERS = TEXT_FILTERS + CHOICE_FILTERS + YES_NO_FILTERS + NUMBER_FILTERS + DATE_FILTERS
"""The filters of ``GET /api/contacts`` the page offers (all of them)."""
ADVANCED = tuple(f for f in FILTERS if f != "q")


def active_filters(params: Mapping[str, str]) -> dict[str, str]:
    """The filters a query string sets (empty fields are no filter)."""
    return {name: value for name in FILTERS if (value := params.get(name, "").strip())}


def _query(filters: Mapping[str, str], **more: str) -> str:
    return urlencode({**filters, **{k: v for k, v in more.items() if v}})


async def _choices(page: Page) -> dict[str, Any]:
    """What the advanced filters offer: staff, groups, campaigns and the admin's lists."""
    staff, crm, history, campaigns, groups = await gather(
        page.api.get("/api/staff", limit=500),
        page.api.get("/api/crm/settings"),
        page.api.get("/api/history/settings"),
        page.api.get("/api/campaigns", limit=500),
        page.api.get("/api/groups", limit=500),
    )
    return {
        "staff_list": staff["items"],
        "crm": crm,
        "history_settings": history,
        "campaigns": campaigns["items"],
        "groups": groups["items"],
    }


async def _groups(page: Page) -> dict[str, Any]:
    return {"groups": (await page.api.get("/api/groups", limit=500))["items"]}


async def _unread(page: Page) -> int:
    answer = await page.api.get("/api/notifications", limit=1)
    return int(answer["unread"])


async def _group(page: Page, group_id: str | None) -> dict[str, Any] | None:
    """The group open in the sidebar, with its first members."""
    if not group_id:
        return None
    try:
        group, members = await gather(
            page.api.get(f"/api/groups/{group_id}"),
            page.api.get(f"/api/groups/{group_id}/members", limit=20),
        )
    except ApiError as problem:
        if problem.status in (404, 422):
            return None
        raise
    return {**group, "members": members["items"], "more_members": bool(members["next_cursor"])}


async def _contacts(page: Page, filters: Mapping[str, str], cursor: str | None) -> dict[str, Any]:
    params = [*filters.items(), ("limit", PAGE_SIZE)]
    if cursor:
        params.append(("cursor", cursor))
    result: dict[str, Any] = await page.api.get_params("/api/contacts", params)
    return result


@router.get("/ui/contacts")
async def contacts_list(request: Request, page: StaffPage) -> Response:
    params = request.query_params
    filters = active_filters(params)
    cursor = params.get("cursor") or None
    target = request.headers.get("hx-target")
    advanced_open = params.get("advanced") == "1" or any(f in filters for f in ADVANCED)
    context: dict[str, Any] = {
        "filters": filters,
        "query": _query(filters),
        "advanced_open": advanced_open,
        "open_group_id": params.get("open_group", ""),
        "section": "contacts",
    }
    try:
        if page.htmx and cursor:  # "Weitere laden": the next rows only
            context["result"] = await _contacts(page, filters, cursor)
            return page.render("contacts/list.html", block="rows", **context)
        if page.htmx and target == "results":  # search as you type, filters
            context["result"], context["open_group"] = await gather(
                _contacts(page, filters, None), _group(page, context["open_group_id"])
            )
            return page.render("contacts/list.html", block="results", **context)
        if page.htmx and target == "advanced-filters":
            context.update(await _choices(page))
            return page.render("contacts/list.html", block="advanced", **context)
        calls: list[Awaitable[Any]] = [
            _contacts(page, filters, cursor),
            _group(page, context["open_group_id"]),
            _unread(page),
            _choices(page) if advanced_open else _groups(page),
        ]
        answers = await gather(*calls)
    except ApiError as problem:
        if problem.status != 422:
            raise
        # a filter the service refuses (e.g. a bad date): show the page with the message
        context.update(
            result={"items": [], "next_cursor": None},
            open_group=None,
            unread=0,
            filter_problem=form_errors(page, problem),
        )
        context.update(await (_choices(page) if advanced_open else _groups(page)))
        return page.render("contacts/list.html", status=422, **context)
    context.update(result=answers[0], open_group=answers[1], unread=answers[2], filter_problem=None)
    context.update(answers[3])
    return page.render("contacts/list.html", **context)


def selection_of(form: Mapping[str, Any], ids: list[str]) -> dict[str, Any]:
    """The selection of a bulk action or job: the checked ids, or every contact the list's
    filter matches (resolved by the contacts service, never in the browser)."""
    if form.get("scope") == "filter":
        return {"filter": list_filters(form)}
    return {"contact_ids": ids}


def list_filters(form: Mapping[str, Any]) -> dict[str, str]:
    """The filters of the list the form was sent from (its query string)."""
    return active_filters(dict(parse_qsl(str(form.get("filter_query", "")))))


def _back(form: Mapping[str, Any], open_group: str = "") -> str:
    """The list the form was sent from, with the sidebar's group open."""
    params = [*list_filters(form).items()] + ([("open_group", open_group)] if open_group else [])
    return "/ui/contacts" + (f"?{urlencode(params)}" if params else "")


@router.post("/ui/contacts/bulk")
async def bulk_action(request: Request, page: StaffPage) -> Response:
    form = await form_data(request)
    ids = [str(i) for i in (await request.form()).getlist("contact_id")]
    action = str(form.get("action", ""))
    selection = selection_of(form, ids)
    if selection.get("contact_ids") == []:
        await page.flash(page._("Bitte wählen Sie zuerst Kontakte aus."), kind="error")
        return redirect(request, _back(form))
    body: dict[str, Any] = {"selection": selection, "action": action}
    if action == "add_to_group":
        body["group_id"] = str(form.get("group_id", ""))
    result = await page.api.post("/api/contacts/bulk", json=body)
    done = {
        "archive": page.ngettext(
            "%(n)s Kontakt archiviert.", "%(n)s Kontakte archiviert.", result["changed"]
        ),
        "delete": page.ngettext(
            "%(n)s Kontakt gelöscht.", "%(n)s Kontakte gelöscht.", result["changed"]
        ),
        "add_to_group": page.ngettext(
            "%(n)s Kontakt zur Gruppe hinzugefügt.",
            "%(n)s Kontakte zur Gruppe hinzugefügt.",
            result["changed"],
        ),
    }.get(action, "%(n)s")
    await page.flash(done % {"n": result["changed"]})
    return redirect(request, _back(form, open_group=str(form.get("open_group", ""))))


@router.post("/ui/contacts/groups")
async def create_group(request: Request, page: StaffPage) -> Response:
    """ "Neue Gruppe" (static, from the selection) or "Als dynamische Gruppe speichern"."""
    form = await form_data(request)
    raw = await request.form()
    kind = "dynamic" if form.get("kind") == "dynamic" else "static"
    body: dict[str, Any] = {"name": str(form.get("name", "")).strip(), "kind": kind}
    if number := str(form.get("number", "")).strip():
        body["number"] = number
    filters = list_filters(form)
    selection = selection_of(form, [str(i) for i in raw.getlist("contact_id")])
    if kind == "dynamic":
        body["filter"] = filters
    elif "contact_ids" in selection:
        body["contact_ids"] = selection["contact_ids"]
    try:
        group = await page.api.post("/api/groups", json=body)
        if kind == "static" and "filter" in selection:
            await page.api.post(
                "/api/contacts/bulk",
                json={"selection": selection, "action": "add_to_group", "group_id": group["id"]},
            )
    except ApiError as problem:
        if problem.status not in (409, 422):
            raise
        errors: FormErrors = form_errors(page, problem)
        return page.render(
            "contacts/group_dialog.html",
            kind=kind,
            form=form,
            errors=errors,
            query=str(form.get("filter_query", "")),
            status=problem.status,
        )
    await page.flash(page._("Gruppe „%(name)s“ angelegt.") % {"name": group["name"]})
    return redirect(request, _back(form, open_group=group["id"]))


@router.post("/ui/contacts/create")
async def create_contact(
    request: Request,
    page: StaffPage,
    name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "person",
    language: Annotated[str, Form()] = "de",
) -> Response:
    form = {"name": name, "email": email, "phone": phone, "kind": kind, "language": language}
    body = {k: v.strip() for k, v in form.items() if v.strip()}
    try:
        contact = await page.api.post("/api/contacts", json=body)
    except ApiError as problem:
        if problem.status not in (409, 422):
            raise
        return page.render(
            "contacts/create_dialog.html",
            form=form,
            errors=form_errors(page, problem),
            status=problem.status,
        )
    return redirect(request, f"/ui/contacts/{contact['id']}")
