"""HTTP routes of the history service (thin: rules live in the service)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

from crm_history.jobs import JobRunner, compile_template
from crm_history.models import ContactCopy
from crm_history.repository import DELETED
from crm_history.schemas import (
    BulkEntryRequest,
    EntryCreate,
    EntryPage,
    EntryPublic,
    EntryUpdate,
    HistorySettingsBody,
    JobAccepted,
    JobPublic,
    MailingRequest,
    TimelineItemPublic,
    TimelinePage,
)
from crm_history.service import HistoryService, to_public, today_berlin
from crm_shared import cursor as cursors
from crm_shared.auth import AdminStaff, CurrentStaff
from crm_shared.errors import NotFound, Unprocessable
from crm_shared.service import Runtime, RuntimeDep, SessionDep

history = APIRouter(prefix="/api/history", tags=["history"])
contacts = APIRouter(prefix="/api/contacts/{contact_id}", tags=["history"])
jobs = APIRouter(prefix="/api/jobs", tags=["jobs"])


def _service(session: SessionDep, runtime: Runtime) -> HistoryService:
    return HistoryService(session, runtime.outbox)


async def _wait_for_contact(runtime: Runtime, contact_id: str) -> ContactCopy:
    """The local copy of a contact, waiting a little for one created a moment ago."""
    db = runtime.database
    loop = asyncio.get_running_loop()
    deadline = loop.time() + runtime.settings.contact_wait_seconds  # type: ignore[attr-defined]
    while True:
        async with db.sessionmaker() as session:
            contact = await session.get(ContactCopy, contact_id)
        if contact is not None:
            if contact.status == DELETED:
                raise NotFound("contact", contact_id)
            return contact
        if loop.time() >= deadline:
            raise NotFound("contact", contact_id)
        await asyncio.sleep(0.05)


def _wait(runtime: Runtime) -> float:
    seconds: float = runtime.settings.contact_wait_seconds  # type: ignore[attr-defined]
    return seconds


def _kick_jobs(runtime: Runtime) -> BackgroundTask:
    runner: JobRunner = runtime.state["jobs"]
    return BackgroundTask(runner.kick)  # runs after the response, i.e. after the commit


# --- settings -------------------------------------------------------------------------


@history.get("/settings", response_model=HistorySettingsBody)
async def get_settings(
    session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> HistorySettingsBody:
    return await _service(session, runtime).get_settings()


@history.put("/settings", response_model=HistorySettingsBody)
async def put_settings(
    body: HistorySettingsBody, session: SessionDep, runtime: RuntimeDep, _: AdminStaff
) -> HistorySettingsBody:
    return await _service(session, runtime).put_settings(body)


# --- entries --------------------------------------------------------------------------


@contacts.post("/history", status_code=201, response_model=EntryPublic)
async def create_entry(
    contact_id: str,
    data: EntryCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    staff: CurrentStaff,
) -> EntryPublic:
    contact = await _wait_for_contact(runtime, contact_id)
    entry = await _service(session, runtime).create_entry(contact, data, staff)
    return to_public(entry)


@contacts.get("/history", response_model=EntryPage)
async def list_entries(
    contact_id: str,
    session: SessionDep,
    runtime: RuntimeDep,
    _: CurrentStaff,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> EntryPage:
    service = _service(session, runtime)
    contact = await service.repo.contact(contact_id)
    if contact is not None and contact.status == DELETED:
        raise NotFound("contact", contact_id)
    rows, total = await service.repo.entry_page(contact_id, offset=offset, limit=limit)
    return EntryPage(items=[to_public(r) for r in rows], total=total, offset=offset, limit=limit)


@history.get("/{entry_id}", response_model=EntryPublic)
async def get_entry(
    entry_id: str, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> EntryPublic:
    return to_public(await _service(session, runtime).get_entry(entry_id))


@history.patch("/{entry_id}", response_model=EntryPublic)
async def update_entry(
    entry_id: str, data: EntryUpdate, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> EntryPublic:
    return to_public(await _service(session, runtime).update_entry(entry_id, data))


@history.delete("/{entry_id}", status_code=204)
async def delete_entry(
    entry_id: str, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> Response:
    await _service(session, runtime).delete_entry(entry_id)
    return Response(status_code=204)


# --- bulk entries and mailings --------------------------------------------------------


@history.post("/bulk", status_code=202, response_model=JobAccepted)
async def bulk_entry(
    body: BulkEntryRequest, session: SessionDep, runtime: RuntimeDep, staff: CurrentStaff
) -> JSONResponse:
    service = _service(session, runtime)
    await service.check_pick_lists(body.entry.model_dump(), prefix="entry.")
    contact_ids = await service.resolve(body.selection, wait_seconds=_wait(runtime))
    entry = body.entry.model_copy(update={"date": body.entry.date or today_berlin()})
    job = await service.create_job(
        "bulk_entry", contact_ids, {"entry": entry.model_dump(mode="json")}, staff
    )
    return JSONResponse({"job_id": job.id}, status_code=202, background=_kick_jobs(runtime))


@history.post("/mailings", status_code=202, response_model=JobAccepted)
async def mailing(
    body: MailingRequest, session: SessionDep, runtime: RuntimeDep, staff: CurrentStaff
) -> JSONResponse:
    compile_template("subject", body.subject)
    compile_template("body", body.body)
    service = _service(session, runtime)
    entry = body.entry or EntryCreate(text=None)
    await service.check_pick_lists(entry.model_dump(), prefix="entry.")
    if entry.text is None:
        entry = entry.model_copy(update={"text": f"Mailing: {body.subject}"})
    entry = entry.model_copy(update={"date": entry.date or today_berlin()})
    contact_ids = await service.resolve(body.selection, wait_seconds=_wait(runtime))
    params = {
        "entry": entry.model_dump(mode="json"),
        "subject": body.subject,
        "body": body.body,
    }
    job = await service.create_job("mailing", contact_ids, params, staff)
    return JSONResponse({"job_id": job.id}, status_code=202, background=_kick_jobs(runtime))


@jobs.get("/{job_id}", response_model=JobPublic)
async def get_job(
    job_id: str, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> JobPublic:
    job = await _service(session, runtime).get_job(job_id)
    return JobPublic.model_validate(job.model_dump())


# --- timeline -------------------------------------------------------------------------


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    at, item_id = cursors.decode(cursor, 2)
    try:
        return datetime.fromisoformat(str(at)), str(item_id)
    except ValueError as exc:
        raise Unprocessable("cursor", "invalid cursor") from exc


@contacts.get("/timeline", response_model=TimelinePage)
async def timeline(
    contact_id: str,
    session: SessionDep,
    runtime: RuntimeDep,
    _: CurrentStaff,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> TimelinePage:
    service = _service(session, runtime)
    contact = await service.repo.contact(contact_id)
    if contact is not None and contact.status == DELETED:
        raise NotFound("contact", contact_id)
    after = _decode_cursor(cursor) if cursor else None
    rows = await service.repo.timeline_page(contact_id, after=after, limit=limit + 1)
    items = [TimelineItemPublic.model_validate(r.model_dump()) for r in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return TimelinePage(
        items=items, next_cursor=cursors.encode(last.at.isoformat(), last.id) if last else None
    )


routers = [history, contacts, jobs]
