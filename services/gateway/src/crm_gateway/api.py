"""The gateway's own routes: login, staff, competences, the personal-data export."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from crm_gateway.consistency import caller_of
from crm_gateway.deps import PersonalDataServiceDep, StaffServiceDep
from crm_gateway.limits import client_address
from crm_gateway.proxy import check_caller
from crm_gateway.schemas import (
    CompetenceCreate,
    CompetencePage,
    CompetencePublic,
    CompetenceUpdate,
    PersonalDataDocument,
    StaffCreate,
    StaffPage,
    StaffPublic,
    StaffUpdate,
    TokenRequest,
    TokenResponse,
)
from crm_shared.auth import AdminStaff, CurrentStaff
from crm_shared.errors import Problem
from crm_shared.paging import Cursor, Limit

router = APIRouter(tags=["auth and staff"])


REFERENCE_LIMIT = 500
"""The default page of the short reference lists (staff, competences): all of them, as
before they were paged, up to the maximum page."""


@router.post(
    "/api/auth/token",
    response_model=TokenResponse,
    responses={429: {"description": "too many failed sign-ins (see Retry-After)"}},
)
async def token(
    data: TokenRequest, request: Request, staff_service: StaffServiceDep
) -> JSONResponse:
    """Sign in (the username in any case). After 10 failed attempts for one username
    within 15 minutes (or too many from one address) 429 with ``Retry-After``, also for
    the right password, until the window passes."""
    access, ttl = await staff_service.login(data.username, data.password, client_address(request))
    return JSONResponse(
        TokenResponse(access_token=access, expires_in=ttl).model_dump(),
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},  # RFC 6749 5.1
    )


@router.get("/api/me", response_model=StaffPublic)
async def me(staff: CurrentStaff, staff_service: StaffServiceDep) -> StaffPublic:
    """The signed-in staff member, in the shape of ``/api/staff`` items."""
    return StaffPublic.of(await staff_service.signed_in(staff))


@router.get("/api/staff", response_model=StaffPage)
async def list_staff(
    staff_service: StaffServiceDep,
    _: CurrentStaff,
    limit: Limit = REFERENCE_LIMIT,
    cursor: Cursor = None,
) -> StaffPage:
    """The staff by name, a page at a time (``next_cursor``)."""
    return await staff_service.page(cursor, limit)


@router.post("/api/staff", status_code=201, response_model=StaffPublic)
async def create_staff(
    data: StaffCreate, staff_service: StaffServiceDep, _: AdminStaff
) -> StaffPublic:
    return StaffPublic.of(await staff_service.create(data))


@router.patch("/api/staff/{staff_id}", response_model=StaffPublic)
async def update_staff(
    staff_id: str, data: StaffUpdate, staff_service: StaffServiceDep, _: AdminStaff
) -> StaffPublic:
    """Change a staff member (admin). Tokens already issued keep their claims until they
    expire; the services read the new name, email and state from their staff copies."""
    return StaffPublic.of(await staff_service.update(staff_id, data))


@router.get("/api/competences", response_model=CompetencePage)
async def list_competences(
    staff_service: StaffServiceDep,
    _: CurrentStaff,
    limit: Limit = REFERENCE_LIMIT,
    cursor: Cursor = None,
) -> CompetencePage:
    """The competences by name, a page at a time (``next_cursor``)."""
    return await staff_service.competence_page(cursor, limit)


@router.post("/api/competences", status_code=201, response_model=CompetencePublic)
async def create_competence(
    data: CompetenceCreate, staff_service: StaffServiceDep, _: AdminStaff
) -> CompetencePublic:
    return CompetencePublic.of(await staff_service.create_competence(data))


@router.patch("/api/competences/{competence_id}", response_model=CompetencePublic)
async def update_competence(
    competence_id: str, data: CompetenceUpdate, staff_service: StaffServiceDep, _: AdminStaff
) -> CompetencePublic:
    """Rename a competence or set its members (admin): ``member_ids`` is the whole new
    list. Contacts assigned to it go to the new members from then on."""
    return CompetencePublic.of(await staff_service.update_competence(competence_id, data))


@router.get("/api/contacts/{contact_id}/personal-data", response_model=PersonalDataDocument)
async def personal_data(
    contact_id: str, request: Request, personal_data: PersonalDataServiceDep
) -> Any:
    """Everything every service holds about the contact, one JSON document (admin; GDPR
    Art. 15/20); 404 for a contact deleted for good. Signed in by token or, as every
    ``GET`` of the API, by the browser's staff session."""
    staff, authorization = await check_caller(request)
    if not staff.is_admin:
        raise Problem(403, "admin role required")
    return await personal_data.export(
        contact_id,
        caller=caller_of(staff),
        authorization=authorization or request.headers.get("authorization", ""),
    )
