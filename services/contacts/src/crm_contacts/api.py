"""HTTP routes of the contacts service (thin: validation in schemas, rules in service)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from crm_contacts import importing
from crm_contacts.copies import crm_lists, wait_for_assignee, wait_for_filter
from crm_contacts.deps import Deps
from crm_contacts.models import ImportJob
from crm_contacts.schemas import (
    BulkRequest,
    BulkResult,
    ContactCreate,
    ContactFilter,
    ContactPage,
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
from crm_contacts.service import ContactService, group_public, to_public
from crm_shared import cursor as cursors
from crm_shared.auth import CurrentStaff
from crm_shared.errors import NotFound, Problem
from crm_shared.selections import SelectedContact, SelectionEnd
from crm_shared.service import RuntimeDep, SessionDep

router = APIRouter(prefix="/api/contacts", tags=["contacts"])
ranges_router = APIRouter(prefix="/api/number-ranges", tags=["number ranges"])
groups_router = APIRouter(prefix="/api/groups", tags=["groups"])

Limit = Annotated[int, Query(ge=1, le=500)]
EXPORT_PAGE = 1000
EXPORT_FIELDS = (
    "id",
    "kind",
    "name",
    "email",
    "phone",
    "language",
    "status",
    "company_id",
    "customer_number",
    "credit_hold",
    "assignment.mode",
    "assignment.staff_id",
    "assignment.competence_id",
    "crm.crm_status",
    "crm.company_group",
    "crm.company_size",
    "crm.employees",
    "crm.revenue_group",
    "crm.products",
    "crm.newsletter",
    "crm.data_source",
    "crm.interested",
    "crm.comment1",
    "crm.comment2",
    "crm.comment3",
    "crm.comment4",
    "crm.characteristics",
)


def decode_cursor(cursor: str) -> tuple[str, str]:
    name, ident = cursors.decode(cursor, 2)
    return str(name), str(ident)


def filter_from_query(params: Mapping[str, str]) -> ContactFilter:
    """The contact filter of a query string (``limit`` and ``cursor`` aside)."""
    values = {k: v for k, v in params.items() if k not in ("limit", "cursor")}
    try:
        return ContactFilter.model_validate(values)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]
        ) from exc


async def _page(
    service: ContactService, f: ContactFilter, cursor: str | None, limit: int
) -> ContactPage:
    after = decode_cursor(cursor) if cursor else None
    rows = await service.repo.page(f, after=after, limit=limit + 1)
    items = [to_public(c) for c, _ in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    cursor_out = cursors.encode(last[1], last[0].id) if last else None
    return ContactPage(items=items, next_cursor=cursor_out)


# --- contacts -----------------------------------------------------------------------


@router.post("", status_code=201, response_model=ContactPublic)
async def create_contact(
    data: ContactCreate, session: SessionDep, runtime: RuntimeDep, staff: CurrentStaff
) -> ContactPublic:
    await wait_for_assignee(runtime, data.assignment)
    lists = await crm_lists(runtime, data.crm.model_dump(exclude_none=True))
    contact = await ContactService(session, runtime.outbox).create(data, staff, lists)
    return to_public(contact)


@router.get("", response_model=ContactPage)
async def list_contacts(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    _: CurrentStaff,
    limit: Limit = 50,
    cursor: str | None = None,
) -> ContactPage:
    f = filter_from_query(request.query_params)
    await wait_for_filter(runtime, f)
    return await _page(ContactService(session, runtime.outbox), f, cursor, limit)


@router.post("/bulk", response_model=BulkResult)
async def bulk_action(
    data: BulkRequest, session: SessionDep, runtime: RuntimeDep, staff: CurrentStaff
) -> BulkResult:
    await wait_for_filter(runtime, data.selection.as_filter())
    return await ContactService(session, runtime.outbox).bulk(data, staff)


@router.post(
    "/selection",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
async def resolve_selection(
    data: SelectionRequest, runtime: RuntimeDep, _: CurrentStaff
) -> StreamingResponse:
    """The contacts a selection holds now, for a bulk job or a mailing of another
    service: one JSON object per line (``SelectedContact``), then ``{"count": N}``, so a
    reader knows it got all (streamed: a selection may hold 100,000 contacts). Every
    filter of the list works, dynamic groups included; a temporary group is used up."""
    await wait_for_filter(runtime, data.selection.as_filter())
    async with runtime.database.sessionmaker() as session:
        # unknown groups are a 404 before anything is streamed
        query = await ContactService(session, runtime.outbox).selection_query(data.selection)

    async def lines() -> AsyncIterator[bytes]:
        count = 0
        async with runtime.database.sessionmaker() as session:
            service = ContactService(session, runtime.outbox)
            async for rows in service.repo.stream_selection(query):
                count += len(rows)
                yield b"".join(
                    SelectedContact.model_validate(row).model_dump_json().encode() + b"\n"
                    for row in rows
                )
        async with runtime.database.unit_of_work() as session:
            await ContactService(session, runtime.outbox).used_selection(data.selection)
        yield SelectionEnd(count=count).model_dump_json().encode() + b"\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@router.post(
    "/import",
    response_model=ImportResult,
    responses={202: {"description": "with `Prefer: respond-async`: `{job_id}`, see Location"}},
)
async def import_contacts(
    request: Request,
    runtime: RuntimeDep,
    deps: Deps,
    staff: CurrentStaff,
    after_line: Annotated[int, Query(ge=1, description="skip lines up to this one")] = 1,
) -> Any:
    """Create ``inbox`` contacts from CSV; good rows are kept, bad rows reported by line
    number (the header is line 1). Batches commit as they are read.

    With ``Prefer: respond-async`` the body is stored, the answer is 202 ``{job_id}`` at
    once and ``GET /api/contacts/import/{job_id}`` shows the progress."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("text/csv"):
        raise Problem(415, "send the CSV with Content-Type: text/csv")
    if "respond-async" in request.headers.get("prefer", "").lower():
        file, lines = await importing.spool(request.stream())
        try:
            await importing.read_header(file)
            job = await importing.create_job(
                runtime,
                total=max(lines - after_line, 0),
                after_line=after_line,
                staff_id=staff.staff_id,
            )
        except BaseException:
            file.close()
            raise
        deps.background.spawn(importing.run_job(runtime, job, file), name=f"import-{job.id}")
        return JSONResponse(
            {"job_id": job.id},
            status_code=202,
            headers={
                "Location": f"/api/contacts/import/{job.id}",
                "Preference-Applied": "respond-async",
            },
        )
    progress = await importing.run_import(runtime, request.stream(), after_line=after_line)
    return ImportResult.model_validate(
        {
            "created": progress.created,
            "errors": [{"row": r, "message": m} for r, m in progress.errors],
        }
    )


@router.get("/import/{job_id}", response_model=ImportJobPublic)
async def import_job(job_id: str, session: SessionDep, _: CurrentStaff) -> ImportJobPublic:
    """Progress of an import job: state running|done|failed|interrupted, counters, and
    the first row errors."""
    job = await session.get(ImportJob, job_id)
    if job is None:
        raise NotFound("import job", job_id)
    return ImportJobPublic.model_validate(importing.job_public(job))


def _export_row(contact: ContactPublic) -> list[str]:
    data = contact.model_dump(mode="json")
    out: list[str] = []
    for name in EXPORT_FIELDS:
        value: Any = data
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, list):
            value = ";".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = ";".join(f"{k}={v}" for k, v in value.items())
        elif isinstance(value, bool):
            value = "true" if value else "false"
        out.append("" if value is None else str(value))
    return out


@router.get("/export")
async def export_contacts(request: Request, runtime: RuntimeDep, _: CurrentStaff) -> Response:
    """CSV of every contact matching the filters, streamed page by page."""
    f = filter_from_query(request.query_params)
    await wait_for_filter(runtime, f)

    async def rows() -> AsyncIterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(EXPORT_FIELDS)
        after: tuple[str, str] | None = None
        while True:
            async with runtime.database.sessionmaker() as session:
                page = await ContactService(session, runtime.outbox).repo.page(
                    f, after=after, limit=EXPORT_PAGE
                )
            for contact, _ in page:
                writer.writerow(_export_row(to_public(contact)))
            yield out.getvalue()
            out.seek(0)
            out.truncate()
            if len(page) < EXPORT_PAGE:
                return
            after = (page[-1][1], page[-1][0].id)

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="contacts.csv"'},
    )


@router.get("/{contact_id}", response_model=ContactPublic)
async def get_contact(
    contact_id: str, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> ContactPublic:
    return to_public(await ContactService(session, runtime.outbox).get(contact_id))


@router.patch("/{contact_id}", response_model=ContactPublic)
async def update_contact(
    contact_id: str,
    data: ContactUpdate,
    session: SessionDep,
    runtime: RuntimeDep,
    staff: CurrentStaff,
) -> ContactPublic:
    await wait_for_assignee(runtime, data.assignment)
    lists = await crm_lists(runtime, data.crm)
    contact = await ContactService(session, runtime.outbox).update(contact_id, data, staff, lists)
    return to_public(contact)


@router.delete("/{contact_id}", status_code=204)
async def delete_contact(
    contact_id: str, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> Response:
    await ContactService(session, runtime.outbox).delete(contact_id)
    return Response(status_code=204)


@router.post("/{contact_id}/status", response_model=ContactPublic)
async def change_status(
    contact_id: str,
    data: StatusChange,
    session: SessionDep,
    runtime: RuntimeDep,
    staff: CurrentStaff,
) -> ContactPublic:
    contact = await ContactService(session, runtime.outbox).change_status(contact_id, data, staff)
    return to_public(contact)


@router.post("/{contact_id}/customer-number", response_model=ContactPublic)
async def generate_customer_number(
    contact_id: str,
    data: CustomerNumberRequest,
    session: SessionDep,
    runtime: RuntimeDep,
    staff: CurrentStaff,
) -> ContactPublic:
    service = ContactService(session, runtime.outbox)
    contact = await service.generate_customer_number(contact_id, data.number_range_id, staff)
    return to_public(contact)


# --- number ranges ------------------------------------------------------------------


@ranges_router.get("", response_model=NumberRangePage)
async def list_number_ranges(
    session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> NumberRangePage:
    ranges = await ContactService(session, runtime.outbox).repo.number_ranges()
    return NumberRangePage(items=[NumberRangePublic.model_validate(r.model_dump()) for r in ranges])


@ranges_router.post("", status_code=201, response_model=NumberRangePublic)
async def create_number_range(
    data: NumberRangeCreate, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> NumberRangePublic:
    number_range = await ContactService(session, runtime.outbox).create_number_range(data)
    return NumberRangePublic.model_validate(number_range.model_dump())


# --- groups -------------------------------------------------------------------------


@groups_router.get("", response_model=GroupPage)
async def list_groups(
    session: SessionDep,
    runtime: RuntimeDep,
    _: CurrentStaff,
    limit: Limit = 50,
    cursor: str | None = None,
) -> GroupPage:
    after = decode_cursor(cursor) if cursor else None
    repo = ContactService(session, runtime.outbox).repo
    rows = await repo.groups(after=after, limit=limit + 1)
    last = rows[limit - 1] if len(rows) > limit else None
    return GroupPage(
        items=[group_public(g) for g in rows[:limit]],
        next_cursor=cursors.encode(last.name, last.id) if last else None,
    )


@groups_router.post("", status_code=201, response_model=GroupPublic)
async def create_group(
    data: GroupCreate, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> GroupPublic:
    await wait_for_assignee(runtime, data.assignment)
    return group_public(await ContactService(session, runtime.outbox).create_group(data))


@groups_router.get("/{group_id}", response_model=GroupPublic)
async def get_group(
    group_id: str, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> GroupPublic:
    return group_public(await ContactService(session, runtime.outbox).get_group(group_id))


@groups_router.delete("/{group_id}", status_code=204)
async def delete_group(
    group_id: str, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> Response:
    service = ContactService(session, runtime.outbox)
    await service.delete_group(await service.get_group(group_id))
    return Response(status_code=204)


@groups_router.post("/{group_id}/members")
async def add_group_members(
    group_id: str, data: MembersIn, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> dict[str, Any]:
    service = ContactService(session, runtime.outbox)
    added = await service.add_members(await service.get_group(group_id), data.contact_ids)
    return {"group_id": group_id, "added": len(added)}


@groups_router.get("/{group_id}/members", response_model=ContactPage)
async def list_group_members(
    group_id: str,
    session: SessionDep,
    runtime: RuntimeDep,
    _: CurrentStaff,
    limit: Limit = 50,
    cursor: str | None = None,
) -> ContactPage:
    service = ContactService(session, runtime.outbox)
    await service.get_group(group_id)
    members = ContactFilter(group_id=group_id)
    await wait_for_filter(runtime, members)
    return await _page(service, members, cursor, limit)
