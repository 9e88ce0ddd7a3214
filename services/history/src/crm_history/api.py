"""HTTP routes of the history service (thin: rules live in the service)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

from crm_history.deps import Deps, HistoryServiceDep
from crm_history.schemas import (
    AuditPage,
    BulkEntryRequest,
    EntryCreate,
    EntryPage,
    EntryPublic,
    EntryUpdate,
    HistoryPersonalData,
    HistorySettingsBody,
    JobAccepted,
    JobPublic,
    MailingRequest,
    TimelinePage,
)
from crm_shared.auth import AdminStaff, CurrentStaff
from crm_shared.consistency import HEADER as TOKEN_HEADER
from crm_shared.fields import Count
from crm_shared.paging import Cursor, Limit

history = APIRouter(prefix="/api/history", tags=["history"])
contacts = APIRouter(prefix="/api/contacts/{contact_id}", tags=["history"])
jobs = APIRouter(prefix="/api/jobs", tags=["jobs"])
audit = APIRouter(prefix="/api/audit", tags=["audit"])


# --- settings -------------------------------------------------------------------------


@history.get("/settings", response_model=HistorySettingsBody)
async def get_settings(service: HistoryServiceDep, _: CurrentStaff) -> HistorySettingsBody:
    return await service.get_settings()


@history.put("/settings", response_model=HistorySettingsBody)
async def put_settings(
    body: HistorySettingsBody, service: HistoryServiceDep, _: AdminStaff
) -> HistorySettingsBody:
    return await service.put_settings(body)


# --- entries --------------------------------------------------------------------------


@contacts.post("/history", status_code=201, response_model=EntryPublic)
async def create_entry(
    contact_id: str, data: EntryCreate, service: HistoryServiceDep, staff: CurrentStaff
) -> EntryPublic:
    return EntryPublic.of(await service.create_entry(contact_id, data, staff))


@contacts.get("/history", response_model=EntryPage)
async def list_entries(
    contact_id: str,
    service: HistoryServiceDep,
    _: CurrentStaff,
    offset: Annotated[Count, Query()] = 0,
    limit: Limit = 50,
) -> EntryPage:
    return await service.entries(contact_id, offset=offset, limit=limit)


@history.get("/{entry_id}", response_model=EntryPublic)
async def get_entry(entry_id: str, service: HistoryServiceDep, _: CurrentStaff) -> EntryPublic:
    return EntryPublic.of(await service.get_entry(entry_id))


@history.patch("/{entry_id}", response_model=EntryPublic)
async def update_entry(
    entry_id: str, data: EntryUpdate, service: HistoryServiceDep, _: CurrentStaff
) -> EntryPublic:
    return EntryPublic.of(await service.update_entry(entry_id, data))


@history.delete("/{entry_id}", status_code=204)
async def delete_entry(entry_id: str, service: HistoryServiceDep, _: CurrentStaff) -> Response:
    await service.delete_entry(entry_id)
    return Response(status_code=204)


# --- bulk entries and mailings --------------------------------------------------------


def _accepted(job_id: str, deps: Deps) -> JSONResponse:
    """202 with the job's id; the runner is woken after the response, i.e. after the
    commit."""
    return JSONResponse(
        JobAccepted(job_id=job_id).model_dump(),
        status_code=202,
        background=BackgroundTask(deps.jobs.kick),
    )


@history.post("/bulk", status_code=202, response_model=JobAccepted)
async def bulk_entry(
    body: BulkEntryRequest,
    request: Request,
    service: HistoryServiceDep,
    deps: Deps,
    staff: CurrentStaff,
) -> JSONResponse:
    """The same entry for every contact of the selection as it is now (resolved by the
    contacts service); ``GET /api/jobs/{id}`` shows how many and the progress."""
    job = await service.start_bulk_entry(body, staff, request.headers.get("authorization", ""))
    return _accepted(job.id, deps)


@history.post("/mailings", status_code=202, response_model=JobAccepted)
async def mailing(
    body: MailingRequest,
    request: Request,
    service: HistoryServiceDep,
    deps: Deps,
    staff: CurrentStaff,
) -> JSONResponse:
    """A templated email to every contact of the selection as it is now, to the address
    and in the language each has then, with a history entry for each one mailed."""
    job = await service.start_mailing(body, staff, request.headers.get("authorization", ""))
    return _accepted(job.id, deps)


@jobs.get("/{job_id}", response_model=JobPublic)
async def get_job(
    job_id: str, service: HistoryServiceDep, _: CurrentStaff, response: Response
) -> JobPublic:
    """The job's progress; its answer carries the positions the job wrote so far (its
    consistency token), so the entries of a job seen done are in every copy read next."""
    job = await service.get_job(job_id)
    if job.token:
        response.headers[TOKEN_HEADER] = job.token
    return JobPublic.of(job)


@jobs.post("/{job_id}/pause", response_model=JobPublic)
async def pause_job(job_id: str, service: HistoryServiceDep, staff: CurrentStaff) -> JobPublic:
    """Pause a running job (its starter or an admin): the batch in flight ends, no further
    one starts, also after a restart, until it is resumed; 409 for a job not running."""
    return JobPublic.of(await service.pause_job(job_id, staff))


@jobs.post("/{job_id}/resume", response_model=JobPublic)
async def resume_job(
    job_id: str, service: HistoryServiceDep, deps: Deps, staff: CurrentStaff
) -> JSONResponse:
    """Resume a paused job from its cursor (its starter or an admin); 409 for a job not
    paused. The runner is woken after the response, i.e. after the commit."""
    job = JobPublic.of(await service.resume_job(job_id, staff))
    return JSONResponse(job.model_dump(mode="json"), background=BackgroundTask(deps.jobs.kick))


# --- timeline -------------------------------------------------------------------------


@contacts.get("/timeline", response_model=TimelinePage)
async def timeline(
    contact_id: str,
    service: HistoryServiceDep,
    _: CurrentStaff,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> TimelinePage:
    return await service.timeline(contact_id, cursor=cursor, limit=limit)


@contacts.get("/personal-data/history", response_model=HistoryPersonalData)
async def personal_data(
    contact_id: str, service: HistoryServiceDep, _: AdminStaff
) -> HistoryPersonalData:
    """What this service holds about the contact (admin): the history service's part of
    the gateway's ``GET /api/contacts/{id}/personal-data``."""
    return await service.personal_data(contact_id)


# --- audit trail ----------------------------------------------------------------------


@audit.get("", response_model=AuditPage)
async def audit_trail(
    service: HistoryServiceDep,
    _: AdminStaff,
    contact_id: str | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> AuditPage:
    """Who changed what and when (admin): contacts created, changed (the names of the
    changed fields), their status, their assignment and their permanent delete, newest
    first, of one contact (``contact_id``) or of all. Kept after a delete, without the
    person's data."""
    return await service.audit(contact_id, cursor=cursor, limit=limit)


routers = [history, contacts, jobs, audit]
