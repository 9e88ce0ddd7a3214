"""The gateway's own routes: login, staff, competences, the personal-data export."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from crm_gateway.consistency import caller_of
from crm_gateway.deps import PersonalDataServiceDep, StaffServiceDep
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

router = APIRouter(tags=["auth and staff"])


@router.post("/api/auth/token", response_model=TokenResponse)
async def token(data: TokenRequest, staff_service: StaffServiceDep) -> TokenResponse:
    access, ttl = await staff_service.login(data.username, data.password)
    return TokenResponse(access_token=access, expires_in=ttl)


@router.get("/api/me", response_model=StaffPublic)
async def me(staff: CurrentStaff, staff_service: StaffServiceDep) -> StaffPublic:
    """The signed-in staff member, in the shape of ``/api/staff`` items."""
    return StaffPublic.of(await staff_service.signed_in(staff))


@router.get("/api/staff", response_model=StaffPage)
async def list_staff(staff_service: StaffServiceDep, _: CurrentStaff) -> StaffPage:
    return await staff_service.page()


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
async def list_competences(staff_service: StaffServiceDep, _: CurrentStaff) -> CompetencePage:
    return await staff_service.competence_page()


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
