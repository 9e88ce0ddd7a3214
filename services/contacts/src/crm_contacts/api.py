"""HTTP routes of the contacts service, thin: the input validated by the schemas, one call
to ``ContactService`` or ``ImportService`` (from ``deps.py``), the answer mapped by the
schemas."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from crm_contacts.deps import ContactServiceDep, Deps, ImportServiceDep
from crm_contacts.schemas import (
    BulkRequest,
    BulkResult,
    ContactCreate,
    ContactFilter,
    ContactPage,
    ContactPersonalData,
    ContactPublic,
    ContactUpdate,
    CustomerNumberRequest,
    GroupCreate,
    GroupPage,
    GroupPublic,
    ImportJobPublic,
    ImportResult,
    MembersIn,
    NumberRangeCreate,
    NumberRangePage,
    NumberRangePublic,
    SelectionRequest,
    StatusChange,
)
from crm_shared import paging
from crm_shared.auth import AdminStaff, CurrentStaff
from crm_shared.csv_export import CsvResponse, csv_response
from crm_shared.errors import Problem
from crm_shared.paging import Cursor, Limit

router = APIRouter(prefix="/api/contacts", tags=["contacts"])
ranges_router = APIRouter(prefix="/api/number-ranges", tags=["number ranges"])
groups_router = APIRouter(prefix="/api/groups", tags=["groups"])


def filter_from_query(params: Mapping[str, str]) -> ContactFilter:
    """The contact filter of a query string (``limit`` and ``cursor`` aside)."""
    values = {k: v for k, v in params.items() if k not in ("limit", "cursor")}
    try:
        return ContactFilter.model_validate(values)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]
        ) from exc


# --- contacts -----------------------------------------------------------------------


@router.post("", status_code=201, response_model=ContactPublic)
async def create_contact(
    data: ContactCreate, contacts: ContactServiceDep, staff: CurrentStaff
) -> ContactPublic:
    return ContactPublic.of(await contacts.create(data, staff))


@router.get("", response_model=ContactPage)
async def list_contacts(
    request: Request,
    contacts: ContactServiceDep,
    _: CurrentStaff,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ContactPage:
    return await contacts.page(filter_from_query(request.query_params), cursor, limit)


@router.post("/bulk", response_model=BulkResult)
async def bulk_action(
    data: BulkRequest, contacts: ContactServiceDep, staff: CurrentStaff
) -> BulkResult:
    return await contacts.bulk(data, staff)


@router.post(
    "/selection",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
async def resolve_selection(
    data: SelectionRequest, contacts: ContactServiceDep, deps: Deps, _: CurrentStaff
) -> StreamingResponse:
    """The contacts a selection holds now, for a bulk job or a mailing of another
    service: one JSON object per line (``SelectedContact``), then ``{"count": N}``, so a
    reader knows it got all (streamed: a selection may hold 100,000 contacts). Every
    filter of the list works, dynamic groups included; a temporary group is used up."""
    lines = await contacts.resolve_selection(data.selection, deps.runtime.database)
    return StreamingResponse(lines, media_type="application/x-ndjson")


@router.post(
    "/import",
    response_model=ImportResult,
    responses={202: {"description": "with `Prefer: respond-async`: `{job_id}`, see Location"}},
)
async def import_contacts(
    request: Request,
    imports: ImportServiceDep,
    staff: CurrentStaff,
    after_line: Annotated[int, Query(ge=1, description="skip lines up to this one")] = 1,
) -> Any:
    """Create ``inbox`` contacts from CSV; good rows are kept, bad rows reported by line
    number (the header is line 1). Batches commit as they are read.

    The text is read in the declared ``charset`` (``text/csv; charset=windows-1252``:
    UTF-8, Windows-1252 and its label ISO-8859-1, UTF-16) or, undeclared, as UTF-8 (with or
    without BOM) when it is valid UTF-8, else as Windows-1252 (Excel's "CSV" in a German
    office); UTF-16 with its BOM. Another charset is a 415, bytes invalid in it a 422.
    Cells an export escaped (``'=...``) are read as they were.

    With ``Prefer: respond-async`` the body is stored, the answer is 202 ``{job_id}`` at
    once and ``GET /api/contacts/import/{job_id}`` shows the progress."""
    media_type, charset = _content_type(request.headers.get("content-type", ""))
    if media_type != "text/csv":
        raise Problem(415, "send the CSV with Content-Type: text/csv")
    if "respond-async" in request.headers.get("prefer", "").lower():
        job = await imports.start_job(
            request.stream(), after_line=after_line, staff_id=staff.staff_id, charset=charset
        )
        return JSONResponse(
            {"job_id": job.id},
            status_code=202,
            headers={
                "Location": f"/api/contacts/import/{job.id}",
                "Preference-Applied": "respond-async",
            },
        )
    return await imports.import_csv(request.stream(), after_line=after_line, charset=charset)


def _content_type(header: str) -> tuple[str, str | None]:
    """The media type and the ``charset`` parameter of a Content-Type header."""
    media_type, *parameters = header.split(";")
    charset = None
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    return media_type.strip().lower(), charset


@router.get("/import/{job_id}", response_model=ImportJobPublic)
async def import_job(job_id: str, imports: ImportServiceDep, _: CurrentStaff) -> ImportJobPublic:
    """Progress of an import job: state running|done|failed|interrupted, counters, and
    the first row errors."""
    return await imports.job(job_id)


@router.get("/export", response_class=CsvResponse)
async def export_contacts(
    request: Request, contacts: ContactServiceDep, deps: Deps, _: CurrentStaff
) -> Response:
    """CSV of every contact matching the filters, streamed page by page."""
    f = filter_from_query(request.query_params)
    return csv_response(await contacts.export_csv(f, deps.runtime.database), "contacts.csv")


@router.get("/{contact_id}", response_model=ContactPublic)
async def get_contact(
    contact_id: str, contacts: ContactServiceDep, _: CurrentStaff
) -> ContactPublic:
    return ContactPublic.of(await contacts.get(contact_id))


@router.patch("/{contact_id}", response_model=ContactPublic)
async def update_contact(
    contact_id: str, data: ContactUpdate, contacts: ContactServiceDep, staff: CurrentStaff
) -> ContactPublic:
    return ContactPublic.of(await contacts.update(contact_id, data, staff))


@router.delete("/{contact_id}", status_code=204)
async def delete_contact(
    contact_id: str, contacts: ContactServiceDep, staff: CurrentStaff
) -> Response:
    await contacts.delete(contact_id, staff)
    return Response(status_code=204)


@router.post("/{contact_id}/status", response_model=ContactPublic)
async def change_status(
    contact_id: str, data: StatusChange, contacts: ContactServiceDep, staff: CurrentStaff
) -> ContactPublic:
    return ContactPublic.of(await contacts.change_status(contact_id, data, staff))


@router.get("/{contact_id}/personal-data/contacts", response_model=ContactPersonalData)
async def personal_data(
    contact_id: str, contacts: ContactServiceDep, _: AdminStaff
) -> ContactPersonalData:
    """What this service holds about the contact (admin), the contacts service's part of
    the gateway's ``GET /api/contacts/{id}/personal-data``."""
    return await contacts.personal_data(contact_id)


@router.post("/{contact_id}/customer-number", response_model=ContactPublic)
async def generate_customer_number(
    contact_id: str, data: CustomerNumberRequest, contacts: ContactServiceDep, staff: CurrentStaff
) -> ContactPublic:
    contact = await contacts.generate_customer_number(contact_id, data.number_range_id, staff)
    return ContactPublic.of(contact)


# --- number ranges ------------------------------------------------------------------


@ranges_router.get("", response_model=NumberRangePage)
async def list_number_ranges(
    contacts: ContactServiceDep,
    _: CurrentStaff,
    limit: paging.Limit = paging.MAX_LIMIT,
    cursor: paging.Cursor = None,
) -> NumberRangePage:
    """The number ranges by name, a page at a time (``next_cursor``); by default the
    largest page, all of them as before they were paged."""
    return await contacts.number_ranges(cursor, limit)


@ranges_router.post("", status_code=201, response_model=NumberRangePublic)
async def create_number_range(
    data: NumberRangeCreate, contacts: ContactServiceDep, _: CurrentStaff
) -> NumberRangePublic:
    return NumberRangePublic.of(await contacts.create_number_range(data))


# --- groups -------------------------------------------------------------------------


@groups_router.get("", response_model=GroupPage)
async def list_groups(
    contacts: ContactServiceDep, _: CurrentStaff, limit: Limit = 50, cursor: Cursor = None
) -> GroupPage:
    return await contacts.groups_page(cursor, limit)


@groups_router.post("", status_code=201, response_model=GroupPublic)
async def create_group(
    data: GroupCreate, contacts: ContactServiceDep, _: CurrentStaff
) -> GroupPublic:
    return GroupPublic.of(await contacts.create_group(data))


@groups_router.get("/{group_id}", response_model=GroupPublic)
async def get_group(group_id: str, contacts: ContactServiceDep, _: CurrentStaff) -> GroupPublic:
    return GroupPublic.of(await contacts.get_group(group_id))


@groups_router.delete("/{group_id}", status_code=204)
async def delete_group(group_id: str, contacts: ContactServiceDep, _: CurrentStaff) -> Response:
    await contacts.delete_group_by_id(group_id)
    return Response(status_code=204)


@groups_router.post("/{group_id}/members")
async def add_group_members(
    group_id: str, data: MembersIn, contacts: ContactServiceDep, _: CurrentStaff
) -> dict[str, Any]:
    added = await contacts.add_members_to(group_id, data.contact_ids)
    return {"group_id": group_id, "added": len(added)}


@groups_router.get("/{group_id}/members", response_model=ContactPage)
async def list_group_members(
    group_id: str,
    contacts: ContactServiceDep,
    _: CurrentStaff,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ContactPage:
    return await contacts.members_page(group_id, cursor, limit)
