"""CRM-Dashboard (``/ui/dashboard``, seed 003): the opportunities in nested groups.

The page's URL is the whole view: each filter is a query parameter of ``/api/dashboard``
under its API name, and ``group_by`` lists the grouping fields in order, so a view can be
bookmarked and shared, and the export link (``/api/dashboard/export``) carries the same
query. The grouping order changes by drag and drop or by the buttons of each field
(``static/dashboard.js``); without script each button submits the order it stands for
(``order``), which is answered with a redirect to the plain URL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.datastructures import QueryParams
from starlette.responses import RedirectResponse, Response

from crm_gateway.ui.client import ApiError, gather
from crm_gateway.ui.context import Page, StaffPage
from crm_gateway.ui.crm_choices import crm_choices
from crm_gateway.ui.dashboard_tree import FILTER_OF, GROUP_FIELDS, Row, exact_prefixes, rows_of
from crm_gateway.ui.forms import form_errors

router = APIRouter(include_in_schema=False)

LIST_FILTERS = tuple(FILTER_OF.values())
NUMBER_FILTERS = ("users_from", "users_to")
DEFAULT_GROUPING = ["crm_status", "revenue_group"]
MAX_ROWS = 500
"""Rows the page shows at most (a grouping by contact can have thousands); the export
holds every group."""


def field_names(page: Page) -> dict[str, str]:
    """The grouping fields' names on the page, in the reader's language."""
    _ = page._
    return {
        "crm_status": _("CRM-Ticketstatus"),
        "contact": _("Geschäftspartner oder Kontakt"),
        "company_size": _("Unternehmensgröße"),
        "revenue_group": _("Umsatzgruppe"),
        "company_group": _("Unternehmensgruppe"),
        "product": _("Produkt"),
        "campaign": _("Kampagne"),
        "assignee": _("Ticket-Bearbeiter"),
    }


def parse_grouping(params: QueryParams) -> list[str]:
    """The grouping fields in order: known ones, each once (the default when not given)."""
    if "group_by" not in params:
        return list(DEFAULT_GROUPING)
    fields: list[str] = []
    for name in params.get("group_by", "").split(","):
        name = name.strip()
        if name in GROUP_FIELDS and name not in fields:
            fields.append(name)
    return fields


def dashboard_filters(params: QueryParams) -> list[tuple[str, str]]:
    """The filters a query string sets, as the API's parameters (empty fields dropped)."""
    found = [
        (name, text)
        for name in LIST_FILTERS
        for value in params.getlist(name)
        if (text := value.strip())
    ]
    found += [(name, value) for name in NUMBER_FILTERS if (value := params.get(name, "").strip())]
    return found


def filter_form(params: QueryParams) -> dict[str, Any]:
    """What the filter fields show as chosen (``dashboard/filter_fields.html``): the
    dashboard and the opportunities list fill them alike."""
    filters = dashboard_filters(params)
    return {
        "selected": {name: [v for k, v in filters if k == name] for name in LIST_FILTERS},
        "numbers": {name: params.get(name, "") for name in NUMBER_FILTERS},
    }


def chosen_contact(filters: Sequence[tuple[str, str]]) -> str | None:
    return next((v for k, v in filters if k == "contact_id"), None)


def view_query(filters: Sequence[tuple[str, str]], grouping: Sequence[str]) -> str:
    return urlencode([*filters, ("group_by", ",".join(grouping))])


def drill_down(filters: Sequence[tuple[str, str]], row: Row) -> str | None:
    """The opportunities list for one group: the page's filters, narrowed to its keys."""
    narrowed = {FILTER_OF[name] for name, _ in row.path}
    if any(value is None for _, value in row.path):
        return None  # "no product" is not a filter the list has
    params = [(name, value) for name, value in filters if name not in narrowed]
    params += [(FILTER_OF[name], str(value)) for name, value in row.path]
    return "/ui/opportunities?" + urlencode(params)


async def _groups(
    page: Page, filters: Sequence[tuple[str, str]], grouping: list[str]
) -> list[dict[str, Any]]:
    """The dashboard for the full grouping, and for each shorter one whose figures the
    groups below cannot add up (an opportunity counts once per product or campaign)."""
    prefixes = exact_prefixes(grouping)
    calls = [
        page.api.get_params("/api/dashboard", [*filters, ("group_by", ",".join(fields))])
        for fields in [grouping, *(grouping[:n] for n in prefixes)]
    ]
    answers: list[dict[str, Any]] = await gather(*calls)
    return answers


def _labels(
    answers: Sequence[Mapping[str, Any]], choices: Mapping[str, Any]
) -> dict[str, dict[str, str]]:
    """Names of the ids in the keys: contacts and campaigns (from the dashboard), staff
    (and the campaigns the filters offer, retired ones too)."""
    names: dict[str, dict[str, str]] = {"contact": {}, "campaign": {}}
    for answer in answers:
        for field_name, known in answer.get("names", {}).items():
            names.setdefault(field_name, {}).update(known)
    names["campaign"].update({c["id"]: c["name"] for c in choices.get("campaigns", [])})
    names["assignee"] = {s["id"]: s["name"] for s in choices.get("staff_list", [])}
    return names


@router.get("/ui/dashboard")
async def dashboard(request: Request, page: StaffPage) -> Response:
    params = request.query_params
    filters = dashboard_filters(params)
    if "order" in params:  # a grouping button without script: the plain URL of that view
        order = QueryParams(urlencode({"group_by": params["order"]}))
        return RedirectResponse(
            "/ui/dashboard?" + view_query(filters, parse_grouping(order)), status_code=303
        )
    grouping = parse_grouping(params)
    chosen_contact_id = chosen_contact(filters)
    context: dict[str, Any] = {
        "field_names": field_names(page),
        "grouping": grouping,
        "other_fields": [f for f in GROUP_FIELDS if f not in grouping],
        **filter_form(params),
        "query": view_query(filters, grouping),
        "section": "dashboard",
        "problem": None,
        "status": 200,
    }
    results_only = page.htmx and request.headers.get("hx-target") == "dashboard-results"

    async def offered() -> dict[str, Any]:
        """What the page shows besides the groups. The results alone need only the staff's
        names (contacts and campaigns are named by the dashboard's answer)."""
        if not results_only:
            choices, unread = await gather(
                crm_choices(page, chosen_contact_id), page.api.get("/api/notifications", limit=1)
            )
            return {**choices, "unread": unread["unread"]}
        if "assignee" in grouping:
            return {"staff_list": (await page.api.get("/api/staff", limit=500))["items"]}
        return {}

    try:
        both: list[Any] = await gather(offered(), _groups(page, filters, grouping))
        choices, answers = both
    except ApiError as problem:
        if problem.status != 422:
            raise
        # a filter the service refuses ("bis" below "von", not a number): said at the field
        choices, answers = await offered(), []
        context.update(problem=form_errors(page, problem), status=422)
    context.update(choices)
    if answers:
        rows, more, total = rows_of(
            answers[0]["groups"],
            grouping,
            exact={n: answers[i + 1]["groups"] for i, n in enumerate(exact_prefixes(grouping))},
            names=_labels(answers, choices),
            limit=MAX_ROWS,
        )
    else:
        rows, more, total = [], False, None
    context.update(
        rows=[(row, drill_down(filters, row)) for row in rows], more_rows=more, total=total
    )
    if results_only:
        return page.render("dashboard/page.html", block="results", **context)
    return page.render("dashboard/page.html", **context)
