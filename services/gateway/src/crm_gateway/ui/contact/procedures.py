"""Kontaktvorgänge on the contact's page (seed 004), and the contact autocomplete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from crm_gateway.ui.client import ApiError
from crm_gateway.ui.contact.page import after_change, refused
from crm_gateway.ui.context import StaffPage
from crm_gateway.ui.forms import FormErrors, aware, blank_to_none, duration, form_data, form_errors

router = APIRouter(include_in_schema=False)


@router.post("/ui/contacts/{contact_id}/procedures")
async def plan_procedure(request: Request, contact_id: str, page: StaffPage) -> Response:
    form = await form_data(request)
    length = duration(page, form, required=True)
    if isinstance(length, FormErrors):
        return await refused(page, contact_id, "kontaktvorgaenge", length, form=form, editing="new")
    body: dict[str, Any] = {
        "contact_id": form.get("contact_id") or contact_id,
        "type": form.get("type", ""),
        "direction": form.get("direction", ""),
        "state": form.get("state", "planned"),
        "starts_at": aware(form.get("starts_at", "")),
        "duration_minutes": length,
        "reminder": form.get("reminder") == "true",
        "subject": form.get("subject", "").strip(),
        **blank_to_none(form, "description", "responsible_id", "campaign_id", "contact_person_id"),
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
    length = duration(page, form, required=outcome == "done")
    if isinstance(length, FormErrors):
        return await refused(
            page, contact_id, "kontaktvorgaenge", length, form=form, completing=procedure_id
        )
    body: dict[str, Any] = {
        "outcome": outcome,
        "note": form.get("note", "").strip() or None,
        "starts_at": aware(form.get("starts_at", "")),
        "duration_minutes": length,
    }
    body = {k: v for k, v in body.items() if v is not None}
    try:
        if campaign_id := form.get("campaign_id"):
            # a measure's campaign, chosen in the dialog (seed 004: none, no completion)
            await page.api.patch(
                f"/api/procedures/{procedure_id}", json={"campaign_id": campaign_id}
            )
        await page.api.post(f"/api/procedures/{procedure_id}/complete", json=body)
    except ApiError as problem:
        return await refused(
            page, contact_id, "kontaktvorgaenge", problem, form=form, completing=procedure_id
        )
    return await after_change(
        page, contact_id, "kontaktvorgaenge", page._("Kontaktvorgang abgeschlossen.")
    )


PURPOSES = {
    "contact": ("contact_id", None),
    "company": ("company_id", "company"),
    "person": ("person_id", "person"),
}
"""What a chooser picks (contact_chooser.html): its field, and the kind of contact it offers."""


@router.get("/ui/contact-search")
async def contact_search(request: Request, page: StaffPage) -> Response:
    """The contact autocomplete of the procedure form and the dashboard's filter (``any``:
    "Alle" is a choice too), and (``for=company|person``) of a person's company and a
    company's contact persons: up to two terms, at most ten results."""
    purpose = request.query_params.get("for", "contact")
    field, kind = PURPOSES.get(purpose, PURPOSES["contact"])
    q = request.query_params.get("contact_q", "").strip()
    chosen = request.query_params.get(field, "")
    matches: list[dict[str, Any]] = []
    problem: str | None = None
    if q:
        params = {"q": q, **({"kind": kind} if kind else {})}
        try:
            matches = (await page.api.get("/api/procedures/contact-search", **params))["items"]
        except ApiError as error:
            if error.status != 422:
                raise
            problem = form_errors(page, error).summary()[0][1]
    return page.render(
        "contact/contact_matches.html",
        matches=matches,
        chosen=chosen,
        q=q,
        problem=problem,
        allow_any=request.query_params.get("any") == "1",
        purpose=purpose if purpose in PURPOSES else "contact",
    )
