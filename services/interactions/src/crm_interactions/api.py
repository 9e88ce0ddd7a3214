"""HTTP routes of the interactions service for staff: interactions and procedures."""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from crm_interactions.models import CampaignCopy, ContactCopy, StaffCopy
from crm_interactions.procedures import ProcedureService
from crm_interactions.procedures import to_public as procedure_public
from crm_interactions.schemas import (
    ContactMatch,
    ContactMatches,
    InteractionCreate,
    InteractionPage,
    InteractionPublic,
    InteractionUpdate,
    ProcedureComplete,
    ProcedureCreate,
    ProcedurePage,
    ProcedurePublic,
    ProcedureState,
    ProcedureUpdate,
)
from crm_interactions.service import CUSTOMER_FACING, InteractionService, to_public
from crm_interactions.settings import Settings
from crm_shared.auth import CurrentStaff
from crm_shared.copies import wait_for_copy
from crm_shared.errors import Unprocessable
from crm_shared.events import StaffRef, Topic
from crm_shared.service import Runtime, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/interactions", tags=["interactions"])
procedures = APIRouter(prefix="/api/procedures", tags=["procedures"])

M = TypeVar("M", bound=SQLModel)


async def read_copy(
    runtime: Runtime[Settings], model: type[M], topic: Topic, ident: str
) -> M | None:
    """The local copy of something another service owns (a contact, a staff member, a
    campaign: ``topic`` feeds it, ``ident`` is its key there), as current as the caller
    has seen, waiting a little for one created a moment ago (``wait_for_copy``)."""

    async def load(session: AsyncSession) -> M | None:
        return await session.get(model, ident)

    return await wait_for_copy(runtime, topic, keys=[ident], load=load, ready=_found)


def _found(row: object) -> bool:
    return row is not None


async def _wait_for_contact(runtime: Runtime[Settings], contact_id: str) -> ContactCopy:
    contact = await read_copy(runtime, ContactCopy, Topic.CONTACTS, contact_id)
    if contact is None:
        raise Unprocessable("contact_id", f"unknown contact {contact_id}")
    return contact


def _ref(staff: StaffCopy) -> StaffRef:
    return StaffRef(
        staff_id=staff.staff_id, name=staff.name, initials=staff.initials, email=staff.email
    )


async def _recorder(
    runtime: Runtime[Settings], staff_id: str | None, me: StaffRef, *, mails: bool
) -> StaffRef:
    """The staff member named in ``recorded_by`` (default: the caller), as the staff copy
    knows them now: an email address removed since the caller's token was issued counts
    for an interaction that ``mails`` the customer (the caller's token says the rest)."""
    if staff_id is None or staff_id == me.staff_id:
        if not mails:
            return me
        mine = await wait_for_copy(
            runtime,
            Topic.STAFF,
            keys=[me.staff_id],
            load=lambda session: session.get(StaffCopy, me.staff_id),
            ready=lambda _: True,  # the token's claims stand in for a missing copy
        )
        return _ref(mine) if mine is not None else me
    staff = await read_copy(runtime, StaffCopy, Topic.STAFF, staff_id)
    if staff is None or not staff.active:
        raise Unprocessable("recorded_by", f"unknown staff member {staff_id}")
    return _ref(staff)


@router.post("", status_code=201, response_model=InteractionPublic)
async def log_interaction(
    data: InteractionCreate, runtime: RuntimeDep, staff: CurrentStaff, session: SessionDep
) -> InteractionPublic:
    contact = await _wait_for_contact(runtime, data.contact_id)
    mails = data.kind in CUSTOMER_FACING
    recorder = await _recorder(runtime, data.recorded_by, staff.ref(), mails=mails)
    interaction = await InteractionService(session, runtime.outbox).log(
        data, staff, contact, recorder
    )
    return to_public(interaction, contact)


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    if not cursor.isdigit():
        raise Unprocessable("cursor", "invalid cursor")
    return int(cursor)


@router.get("", response_model=InteractionPage)
async def list_interactions(
    session: SessionDep,
    runtime: RuntimeDep,
    _: CurrentStaff,
    contact_id: str | None = None,
    kind: Literal["internal", "incoming", "outgoing"] | None = None,
    sort: Literal["occurred_at", "recorded_by", "topic"] = "occurred_at",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> InteractionPage:
    offset = _offset(cursor)
    await wait_for_copy(runtime, Topic.CONTACTS, keys=[contact_id] if contact_id else None)
    service = InteractionService(session, runtime.outbox)
    rows = await service.repo.page(
        contact_id=contact_id, kind=kind, sort=sort, offset=offset, limit=limit + 1
    )
    contacts = await service.repo.contacts({row.contact_id for row in rows})
    items = [to_public(row, contacts.get(row.contact_id)) for row in rows[:limit]]
    return InteractionPage(
        items=items, next_cursor=str(offset + limit) if len(rows) > limit else None
    )


@router.get("/{interaction_id}", response_model=InteractionPublic)
async def get_interaction(
    interaction_id: str, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> InteractionPublic:
    service = InteractionService(session, runtime.outbox)
    interaction = await service.get(interaction_id)
    return to_public(interaction, await service.repo.contact(interaction.contact_id))


@router.patch("/{interaction_id}", response_model=InteractionPublic)
async def update_interaction(
    interaction_id: str,
    data: InteractionUpdate,
    session: SessionDep,
    runtime: RuntimeDep,
    _: CurrentStaff,
) -> InteractionPublic:
    service = InteractionService(session, runtime.outbox)
    interaction = await service.update(interaction_id, data)
    return to_public(interaction, await service.repo.contact(interaction.contact_id))


@router.delete("/{interaction_id}", status_code=204)
async def delete_interaction(
    interaction_id: str, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> Response:
    await InteractionService(session, runtime.outbox).delete(interaction_id)
    return Response(status_code=204)


# --- procedures ---------------------------------------------------------------------


async def _await_references(
    runtime: Runtime[Settings],
    campaign_id: str | None,
    responsible_id: str | None,
    contact_person_id: str | None = None,
) -> None:
    """The campaign, staff member and contact person a procedure names, as current as
    the caller has seen (a campaign retired a moment ago is retired here too)."""
    if campaign_id:
        await read_copy(runtime, CampaignCopy, Topic.CAMPAIGNS, campaign_id)
    if responsible_id:
        await read_copy(runtime, StaffCopy, Topic.STAFF, responsible_id)
    if contact_person_id:
        await read_copy(runtime, ContactCopy, Topic.CONTACTS, contact_person_id)


@procedures.get("/contact-search", response_model=ContactMatches)
async def search_contacts(
    session: SessionDep,
    runtime: RuntimeDep,
    _: CurrentStaff,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    kind: Literal["person", "company"] | None = None,
) -> ContactMatches:
    """Autocomplete for the procedure form (seed 004): up to two terms, each must be in
    the name (case-insensitive), at most ten results; ``kind`` only persons or companies
    (a person's company is chosen from companies)."""
    terms = q.split()
    if not terms:
        raise Unprocessable("q", "enter a name to search for")
    if len(terms) > 2:
        raise Unprocessable("q", "search with at most two terms")
    await wait_for_copy(runtime, Topic.CONTACTS)
    rows = await InteractionService(session, runtime.outbox).repo.search_contacts(
        terms, 10, kind=kind
    )
    return ContactMatches(
        items=[
            ContactMatch(
                id=row.contact_id,
                name=row.name,
                kind=row.kind,
                status=row.status,
                company_id=row.company_id,
                customer_number=row.customer_number,
                credit_hold=row.credit_hold,
            )
            for row in rows
        ]
    )


@procedures.post("", status_code=201, response_model=ProcedurePublic)
async def plan_procedure(
    data: ProcedureCreate, runtime: RuntimeDep, staff: CurrentStaff, session: SessionDep
) -> ProcedurePublic:
    contact = await _wait_for_contact(runtime, data.contact_id)
    await _await_references(runtime, data.campaign_id, data.responsible_id, data.contact_person_id)
    procedure = await ProcedureService(session, runtime.outbox).plan(data, staff, contact)
    return procedure_public(procedure, contact)


def _keyset(cursor: str | None) -> tuple[str, str] | None:
    if not cursor:
        return None
    at, sep, last_id = cursor.rpartition("|")
    if not sep or not at or not last_id:
        raise Unprocessable("cursor", "invalid cursor")
    return at, last_id


@procedures.get("", response_model=ProcedurePage)
async def list_procedures(
    session: SessionDep,
    runtime: RuntimeDep,
    _: CurrentStaff,
    contact_id: str | None = None,
    state: ProcedureState | None = None,
    responsible_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> ProcedurePage:
    await wait_for_copy(runtime, Topic.CONTACTS, keys=[contact_id] if contact_id else None)
    service = ProcedureService(session, runtime.outbox)
    try:
        rows = await service.repo.procedures(
            contact_id=contact_id,
            state=state,
            responsible_id=responsible_id,
            after=_keyset(cursor),
            limit=limit + 1,
        )
    except ValueError as exc:
        raise Unprocessable("cursor", "invalid cursor") from exc
    contacts = await service.repo.contacts({row.contact_id for row in rows})
    items = [procedure_public(row, contacts.get(row.contact_id)) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = f"{last.starts_at.isoformat()}|{last.id}"
    return ProcedurePage(items=items, next_cursor=next_cursor)


@procedures.get("/{procedure_id}", response_model=ProcedurePublic)
async def get_procedure(
    procedure_id: str, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> ProcedurePublic:
    service = ProcedureService(session, runtime.outbox)
    procedure = await service.get(procedure_id)
    return procedure_public(procedure, await service.repo.contact(procedure.contact_id))


@procedures.patch("/{procedure_id}", response_model=ProcedurePublic)
async def update_procedure(
    procedure_id: str,
    data: ProcedureUpdate,
    session: SessionDep,
    runtime: RuntimeDep,
    _: CurrentStaff,
) -> ProcedurePublic:
    await _await_references(runtime, data.campaign_id, data.responsible_id, data.contact_person_id)
    service = ProcedureService(session, runtime.outbox)
    procedure = await service.update(procedure_id, data)
    return procedure_public(procedure, await service.repo.contact(procedure.contact_id))


@procedures.post("/{procedure_id}/complete", response_model=ProcedurePublic)
async def complete_procedure(
    procedure_id: str,
    data: ProcedureComplete,
    session: SessionDep,
    runtime: RuntimeDep,
    staff: CurrentStaff,
) -> ProcedurePublic:
    service = ProcedureService(session, runtime.outbox)
    procedure = await service.complete(procedure_id, data, staff)
    return procedure_public(procedure, await service.repo.contact(procedure.contact_id))
