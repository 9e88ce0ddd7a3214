"""A history entry or a mailing for a selection of the contacts list (seed 000
"Kundenhistoryeintrag generieren", "Serienbrief / Mailing").

The action bar sends the selection (the checked rows, or "all that match" as the list's
filter); the form page keeps it in the URL; "OK" starts the history service's job and its
page follows the progress until done. The contacts service resolves the selection when
the job starts (the history service asks it), never the browser."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from crm_gateway.ui.client import ApiError, gather
from crm_gateway.ui.contact.history import history_body
from crm_gateway.ui.contacts import selection_of
from crm_gateway.ui.context import Page, StaffPage, redirect
from crm_gateway.ui.forms import FormErrors, form_data, form_errors

router = APIRouter(include_in_schema=False)

Kind = Literal["history", "mailing"]
Steer = Literal["pause", "resume"]
POLL_SECONDS = 1


@router.post("/ui/contacts/selection/{kind}")
async def choose(request: Request, kind: Kind, page: StaffPage) -> Response:
    """From the action bar: to the form, the selection in its URL."""
    form = await form_data(request)
    ids = [str(i) for i in (await request.form()).getlist("contact_id")]
    query = {"scope": form.get("scope", "ids"), "filter_query": form.get("filter_query", "")}
    params = [*query.items(), *(("contact_id", i) for i in ids)]
    return redirect(request, f"/ui/contacts/selection/{kind}?{urlencode(params)}")


async def _form_page(
    page: Page,
    kind: Kind,
    *,
    form: Mapping[str, str],
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    request = page.request
    # the selection: in the URL (the form page), or sent back with the form (a refusal)
    source = request.query_params if request.method == "GET" else await request.form()
    settings, unread = await gather(
        page.api.get("/api/history/settings"), page.api.get("/api/notifications", limit=1)
    )
    return page.render(
        "contacts/bulk_history.html",
        kind=kind,
        scope=str(source.get("scope", "ids")),
        filter_query=str(source.get("filter_query", "")),
        ids=[str(i) for i in source.getlist("contact_id")],
        history_settings=settings,
        form=form,
        errors=errors,
        current={},
        initials=page.staff.initials if page.staff else "",
        today="",
        unread=unread["unread"],
        section="contacts",
        status=status,
    )


@router.get("/ui/contacts/selection/{kind}")
async def selection_form(kind: Kind, page: StaffPage) -> Response:
    return await _form_page(page, kind, form={})


@router.post("/ui/contacts/selection/{kind}/run")
async def run(request: Request, kind: Kind, page: StaffPage) -> Response:
    form = await form_data(request)
    ids = [str(i) for i in (await request.form()).getlist("contact_id")]
    entry = {k: v for k, v in history_body(form).items() if v is not None}
    body: dict[str, Any] = {"selection": selection_of(form, ids), "entry": entry}
    if kind == "mailing":
        body["subject"] = form.get("subject", "").strip()
        body["body"] = form.get("body", "").strip()
    path = "/api/history/bulk" if kind == "history" else "/api/history/mailings"
    try:
        job = await page.api.post(path, json=body)
    except ApiError as problem:
        if problem.status not in (409, 422):
            raise
        return await _form_page(
            page, kind, form=form, errors=form_errors(page, problem), status=problem.status
        )
    return redirect(request, f"/ui/jobs/{job['job_id']}")


@router.get("/ui/jobs/{job_id}")
async def job_page(job_id: str, page: StaffPage) -> Response:
    job = await page.api.get(f"/api/jobs/{job_id}")
    starter = (job.get("created_by") or {}).get("staff_id")
    staff = page.staff
    return page.render(
        "contacts/job.html",
        block="progress" if page.htmx else None,
        job=job,
        # the history service decides (403 for anyone else); the page offers what it allows
        may_steer=staff is not None and (staff.is_admin or staff.staff_id == starter),
        poll=POLL_SECONDS,
        section="contacts",
    )


@router.post("/ui/jobs/{job_id}/{action}")
async def steer_job(request: Request, job_id: str, action: Steer, page: StaffPage) -> Response:
    """The buttons "Pausieren" / "Fortsetzen": the job's page again, in its new state; a job that
    moved on meanwhile (done while the button was shown) is said above its state."""
    try:
        await page.api.post(f"/api/jobs/{job_id}/{action}")
    except ApiError as problem:
        if problem.status != 409:
            raise
        refused = (
            page._("Der Auftrag läuft nicht mehr und kann nicht pausiert werden.")
            if action == "pause"
            else page._("Der Auftrag ist nicht pausiert und kann nicht fortgesetzt werden.")
        )
        await page.flash(refused, kind="error")
    return redirect(request, f"/ui/jobs/{job_id}")
