"""HTTP routes of procedures for staff (``/api/procedures``), thin."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from crm_interactions.deps import ProcedureServiceDep
from crm_interactions.procedures.schemas import (
    ContactMatches,
    ProcedureComplete,
    ProcedureCreate,
    ProcedurePage,
    ProcedurePublic,
    ProcedureState,
    ProcedureUpdate,
)
from crm_shared.auth import CurrentStaff
from crm_shared.fields import PlainText
from crm_shared.paging import Cursor, Limit

router = APIRouter(prefix="/api/procedures", tags=["procedures"])


@router.get("/contact-search", response_model=ContactMatches)
async def search_contacts(
    service: ProcedureServiceDep,
    _: CurrentStaff,
    q: Annotated[PlainText, Query(min_length=1, max_length=200)],
    kind: Literal["person", "company"] | None = None,
) -> ContactMatches:
    """Autocomplete for the procedure form (seed 004): up to two terms, each must be in
    the name (case-insensitive), at most ten results; ``kind`` only persons or companies
    (a person's company is chosen from companies)."""
    return await service.search_contacts(q, kind)


@router.post("", status_code=201, response_model=ProcedurePublic)
async def plan_procedure(
    data: ProcedureCreate, service: ProcedureServiceDep, staff: CurrentStaff
) -> ProcedurePublic:
    return await service.plan(data, staff)


@router.get("", response_model=ProcedurePage)
async def list_procedures(
    service: ProcedureServiceDep,
    _: CurrentStaff,
    contact_id: PlainText | None = None,
    state: ProcedureState | None = None,
    responsible_id: PlainText | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ProcedurePage:
    return await service.page(
        contact_id=contact_id,
        state=state,
        responsible_id=responsible_id,
        cursor=cursor,
        limit=limit,
    )


@router.get("/{procedure_id}", response_model=ProcedurePublic)
async def get_procedure(
    procedure_id: str, service: ProcedureServiceDep, _: CurrentStaff
) -> ProcedurePublic:
    return await service.get(procedure_id)


@router.patch("/{procedure_id}", response_model=ProcedurePublic)
async def update_procedure(
    procedure_id: str, data: ProcedureUpdate, service: ProcedureServiceDep, _: CurrentStaff
) -> ProcedurePublic:
    return await service.update(procedure_id, data)


@router.post("/{procedure_id}/complete", response_model=ProcedurePublic)
async def complete_procedure(
    procedure_id: str, data: ProcedureComplete, service: ProcedureServiceDep, staff: CurrentStaff
) -> ProcedurePublic:
    return await service.complete(procedure_id, data, staff)
