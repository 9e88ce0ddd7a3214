"""CSV import from the contacts list (``/ui/contacts/import``): the file goes to the
contacts service as an import job (``Prefer: respond-async``); the job's page follows its
progress and lists the rows it refused (row number, message)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from crm_gateway.ui.client import ApiError
from crm_gateway.ui.context import Page, StaffPage, redirect
from crm_gateway.ui.forms import FormErrors, form_errors

router = APIRouter(include_in_schema=False)

CHUNK = 256 * 1024
POLL_SECONDS = 1


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(CHUNK):
        yield chunk


def _form(page: Page, errors: FormErrors | None = None, status: int = 200) -> Response:
    return page.render("contacts/import.html", errors=errors, section="contacts", status=status)


@router.get("/ui/contacts/import")
async def import_form(page: StaffPage) -> Response:
    return _form(page)


@router.post("/ui/contacts/import")
async def start_import(request: Request, page: StaffPage) -> Response:
    upload = (await request.form()).get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _form(
            page, FormErrors(fields={"file": page._("Bitte wählen Sie eine CSV-Datei.")}), 422
        )
    try:
        reply = await page.api.request(
            "POST",
            "/api/contacts/import",
            content=_chunks(upload),
            headers={"content-type": "text/csv", "prefer": "respond-async"},
        )
    except ApiError as problem:
        if problem.status not in (400, 413, 415, 422):
            raise
        # the service names the header, a column or the body: on this page, the file
        messages = [message for _, message in form_errors(page, problem).summary()]
        return _form(page, FormErrors(fields={"file": " ".join(messages)}), problem.status)
    job_id = reply.json()["job_id"]
    return redirect(request, f"/ui/contacts/import/{job_id}")


@router.get("/ui/contacts/import/{job_id}")
async def import_job(job_id: str, page: StaffPage) -> Response:
    job = await page.api.get(f"/api/contacts/import/{job_id}")
    return page.render(
        "contacts/import_job.html",
        block="progress" if page.htmx else None,
        job=job,
        poll=POLL_SECONDS,
        section="contacts",
    )
