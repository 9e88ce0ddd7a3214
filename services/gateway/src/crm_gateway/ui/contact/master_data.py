"""The contact's Stammdaten and its CRM properties (seed 003 "CRM im Geschäftspartner")."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from crm_gateway.ui.client import ApiError
from crm_gateway.ui.contact.page import after_change, refused
from crm_gateway.ui.context import Page, StaffPage, problem_message
from crm_gateway.ui.forms import FormErrors, blank_to_none, form_data, form_errors

router = APIRouter(include_in_schema=False)


@router.post("/ui/contacts/{contact_id}/master-data")
async def save_master_data(request: Request, contact_id: str, page: StaffPage) -> Response:
    form = await form_data(request)
    body: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        **blank_to_none(form, "email", "phone"),
        "language": form.get("language", "de"),
        "credit_hold": form.get("credit_hold") == "true",
        "address": blank_to_none(form, "street", "postal_code", "city", "country"),
    }
    if "company_id" in form:
        body["company_id"] = form.get("company_id") or None
    try:
        await page.api.patch(f"/api/contacts/{contact_id}", json=body)
    except ApiError as problem:
        # the company chosen stays chosen (the chooser shows it by its name)
        chosen = await _contact_or_none(page, form.get("company_id", ""))
        return await refused(
            page, contact_id, "stammdaten", problem, form=form, company_choice=chosen
        )
    return await after_change(page, contact_id, "stammdaten", page._("Stammdaten gespeichert."))


async def _contact_or_none(page: Page, contact_id: str) -> dict[str, Any] | None:
    if not contact_id:
        return None
    try:
        found: dict[str, Any] = await page.api.get(f"/api/contacts/{contact_id}")
    except ApiError:
        return None
    return found


@router.post("/ui/contacts/{contact_id}/contact-persons")
async def add_contact_person(request: Request, contact_id: str, page: StaffPage) -> Response:
    """A person becomes a contact person of this company (the person's company is set)."""
    form = await form_data(request)
    person_id = form.get("person_id", "")
    if not person_id:
        errors = FormErrors(fields={"person_id": page._("Bitte wählen Sie eine Person aus.")})
        return await refused(page, contact_id, "stammdaten", errors)
    try:
        person = await page.api.patch(f"/api/contacts/{person_id}", json={"company_id": contact_id})
    except ApiError as problem:
        if problem.status not in (404, 409, 422):
            raise
        errors = FormErrors(fields={"person_id": problem_message(page.language, problem)})
        if problem.status in (409, 422):
            errors = FormErrors(fields={"person_id": form_errors(page, problem).summary()[0][1]})
        return await refused(page, contact_id, "stammdaten", errors)
    message = page._("„%(name)s“ ist jetzt Ansprechpartner.") % {"name": person["name"]}
    return await after_change(page, contact_id, "stammdaten", message)


@router.post("/ui/contacts/{contact_id}/contact-persons/{person_id}/remove")
async def remove_contact_person(
    request: Request, contact_id: str, person_id: str, page: StaffPage
) -> Response:
    person = await page.api.patch(f"/api/contacts/{person_id}", json={"company_id": None})
    message = page._("„%(name)s“ ist kein Ansprechpartner mehr.") % {"name": person["name"]}
    return await after_change(page, contact_id, "stammdaten", message)


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
    form: dict[str, Any] = {**await form_data(request), "products": raw.getlist("products")}
    employees = form.get("employees", "").strip()
    crm: dict[str, Any] = {
        **blank_to_none(
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
        "products": [str(p) for p in form["products"]],
        "newsletter": form.get("newsletter") == "true",
        "interested": form.get("interested") == "true",
        "characteristics": _characteristics(form.get("characteristics", "")),
    }
    try:
        await page.api.patch(f"/api/contacts/{contact_id}", json={"crm": crm})
    except ApiError as problem:
        return await refused(page, contact_id, "crm", problem, form=form)
    return await after_change(page, contact_id, "crm", page._("CRM-Angaben gespeichert."))
