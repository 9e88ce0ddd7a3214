"""HTTP routes of the history service (thin: rules live in the service)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.background import BackgroundTask

from crm_history.deps import Deps
from crm_history.jobs import compile_template
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
from crm_history.settings import Settings
from crm_history.timeline import TIMELINE_TOPICS
from crm_shared import cursor as cursors
from crm_shared.auth import AdminStaff, CurrentStaff
from crm_shared.consistency import HEADER as TOKEN_HEADER
from crm_shared.copies import wait_for_copy
from crm_shared.errors import NotFound, Unprocessable
from crm_shared.events import Topic
from crm_shared.service import Runtime, RuntimeDep, SessionDep

history = APIRouter(prefix="/api/history", tags=["history"])
# the timeline's topics but its own (the items of entries are written with them)
_COPIED_TOPICS = [topic.value for topic in TIMELINE_TOPICS if topic != Topic.HISTORY]
contacts = APIRouter(prefix="/api/contacts/{contact_id}", tags=["history"])
jobs = APIRouter(prefix="/api/jobs", tags=["jobs"])


def _service(session: SessionDep, runtime: Runtime[Settings]) -> HistoryService:
    return HistoryService(session, runtime.outbox)


async def _wait_for_contact(runtime: Runtime[Settings], contact_id: str) -> ContactCopy:
    """The local copy of a contact, as current as the caller has seen (``wait_for_copy``:
    one created a moment ago is waited for); 404 for an unknown or deleted one."""

    async def load(session: AsyncSession) -> ContactCopy | None:
        return await session.get(ContactCopy, contact_id)

    contact = await wait_for_copy(
        runtime, Topic.CONTACTS, keys=[contact_id], load=load, ready=lambda c: c is not None
    )
    if contact is None or contact.status == DELETED:
        raise NotFound("contact", contact_id)
    return contact


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
    await wait_for_copy(runtime, Topic.CONTACTS, keys=[contact_id])
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
    body: BulkEntryRequest,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    deps: Deps,
    staff: CurrentStaff,
) -> JSONResponse:
    """The same entry for every contact of the selection as it is now (resolved by the
    contacts service); ``GET /api/jobs/{id}`` shows how many and the progress."""
    service = _service(session, runtime)
    await service.check_pick_lists(body.entry.model_dump(), prefix="entry.")
    targets = await deps.resolve(body.selection, request.headers.get("authorization", ""))
    entry = body.entry.model_copy(update={"date": body.entry.date or today_berlin()})
    job = await service.create_job(
        "bulk_entry", targets, {"entry": entry.model_dump(mode="json")}, staff
    )
    # the runner is woken after the response, i.e. after the commit
    return JSONResponse(
        {"job_id": job.id}, status_code=202, background=BackgroundTask(deps.jobs.kick)
    )


@history.post("/mailings", status_code=202, response_model=JobAccepted)
async def mailing(
    body: MailingRequest,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    deps: Deps,
    staff: CurrentStaff,
) -> JSONResponse:
    """A templated email to every contact of the selection as it is now, to the address
    and in the language each has then, with a history entry for each one mailed."""
    compile_template("subject", body.subject)
    compile_template("body", body.body)
    service = _service(session, runtime)
    entry = body.entry or EntryCreate(text=None)
    await service.check_pick_lists(entry.model_dump(), prefix="entry.")
    if entry.text is None:
        entry = entry.model_copy(update={"text": f"Mailing: {body.subject}"})
    entry = entry.model_copy(update={"date": entry.date or today_berlin()})
    targets = await deps.resolve(body.selection, request.headers.get("authorization", ""))
    params = {
        "entry": entry.model_dump(mode="json"),
        "subject": body.subject,
        "body": body.body,
    }
    job = await service.create_job("mailing", targets, params, staff)
    return JSONResponse(
        {"job_id": job.id}, status_code=202, background=BackgroundTask(deps.jobs.kick)
    )


@jobs.get("/{job_id}", response_model=JobPublic)
async def get_job(
    job_id: str, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff, response: Response
) -> JobPublic:
    """The job's progress; its answer carries the positions the job wrote so far (its
    consistency token), so the entries of a job seen done are in every copy read next."""
    job = await _service(session, runtime).get_job(job_id)
    if job.token:
        response.headers[TOKEN_HEADER] = job.token
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
    await wait_for_copy(runtime, _COPIED_TOPICS, keys=[contact_id])
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
