"""The gateway's own routes: login, staff, competences, the dev mailbox."""

from __future__ import annotations

import html
import mailbox
from email.message import Message
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from crm_gateway.schemas import (
    CompetenceCreate,
    CompetencePage,
    CompetencePublic,
    CompetenceUpdate,
    StaffCreate,
    StaffPage,
    StaffPublic,
    StaffUpdate,
    TokenRequest,
    TokenResponse,
)
from crm_gateway.settings import Settings
from crm_gateway.staff import StaffService
from crm_shared.auth import AdminStaff, CurrentStaff
from crm_shared.errors import NotFound
from crm_shared.service import RuntimeDep, SessionDep

router = APIRouter(tags=["auth and staff"])


async def staff_service(session: SessionDep, runtime: RuntimeDep) -> StaffService:
    return StaffService(session, runtime.outbox)


StaffServiceDep = Annotated[StaffService, Depends(staff_service)]


@router.post("/api/auth/token", response_model=TokenResponse)
async def token(
    data: TokenRequest, staff_service: StaffServiceDep, request: Request
) -> TokenResponse:
    settings: Settings = request.app.state.settings
    access, ttl = await staff_service.login(data.username, data.password, settings)
    return TokenResponse(access_token=access, expires_in=ttl)


@router.get("/api/me", response_model=StaffPublic)
async def me(staff: CurrentStaff, staff_service: StaffServiceDep) -> StaffPublic:
    """The signed-in staff member, in the shape of ``/api/staff`` items."""
    return StaffPublic.model_validate((await staff_service.signed_in(staff)).model_dump())


@router.get("/api/staff", response_model=StaffPage)
async def list_staff(staff_service: StaffServiceDep, _: CurrentStaff) -> StaffPage:
    rows = await staff_service.list()
    return StaffPage(items=[StaffPublic.model_validate(s.model_dump()) for s in rows])


@router.post("/api/staff", status_code=201, response_model=StaffPublic)
async def create_staff(
    data: StaffCreate, staff_service: StaffServiceDep, _: AdminStaff
) -> StaffPublic:
    staff = await staff_service.create(data)
    return StaffPublic.model_validate(staff.model_dump())


@router.patch("/api/staff/{staff_id}", response_model=StaffPublic)
async def update_staff(
    staff_id: str, data: StaffUpdate, staff_service: StaffServiceDep, _: AdminStaff
) -> StaffPublic:
    """Change a staff member (admin). Tokens already issued keep their claims until they
    expire; the services read the new name, email and state from their staff copies."""
    staff = await staff_service.update(staff_id, data)
    return StaffPublic.model_validate(staff.model_dump())


@router.get("/api/competences", response_model=CompetencePage)
async def list_competences(staff_service: StaffServiceDep, _: CurrentStaff) -> CompetencePage:
    rows = await staff_service.competences()
    return CompetencePage(items=[CompetencePublic.model_validate(c.model_dump()) for c in rows])


@router.post("/api/competences", status_code=201, response_model=CompetencePublic)
async def create_competence(
    data: CompetenceCreate, staff_service: StaffServiceDep, _: AdminStaff
) -> CompetencePublic:
    competence = await staff_service.create_competence(data)
    return CompetencePublic.model_validate(competence.model_dump())


@router.patch("/api/competences/{competence_id}", response_model=CompetencePublic)
async def update_competence(
    competence_id: str, data: CompetenceUpdate, staff_service: StaffServiceDep, _: AdminStaff
) -> CompetencePublic:
    """Rename a competence or set its members (admin): ``member_ids`` is the whole new
    list. Contacts assigned to it go to the new members from then on."""
    competence = await staff_service.update_competence(competence_id, data)
    return CompetencePublic.model_validate(competence.model_dump())


dev_router = APIRouter(tags=["dev"])


def _mail_summary(key: str, message: Message) -> dict[str, Any]:
    body = message.get_payload(decode=True)
    return {
        "id": key,
        "from": message.get("From"),
        "to": message.get("To"),
        "reply_to": message.get("Reply-To"),
        "subject": message.get("Subject"),
        "date": message.get("Date"),
        "message_id": message.get("Message-ID"),
        "body": body.decode(errors="replace") if isinstance(body, bytes) else str(body),
    }


@dev_router.get("/dev/mail", response_model=None)
async def dev_mail(request: Request, format: str = "html") -> Response:
    """The dev SMTP sink's mailbox (dev only): every mail the system sent."""
    settings: Settings = request.app.state.settings
    if settings.env != "dev" or settings.dev_maildir is None:
        raise NotFound("page", "/dev/mail")
    box = mailbox.Maildir(settings.dev_maildir, create=False)
    mails = sorted(
        (_mail_summary(k, m) for k, m in box.items()), key=lambda m: m["id"], reverse=True
    )
    if format == "json":
        return JSONResponse({"items": mails})
    rows = "".join(
        f"<article><h2>{html.escape(m['subject'] or '')}</h2>"
        f"<p><b>An / To:</b> {html.escape(m['to'] or '')} · <b>Antwort an / Reply-To:</b> "
        f"{html.escape(m['reply_to'] or '')} · {html.escape(m['date'] or '')}</p>"
        f"<pre>{html.escape(m['body'])}</pre></article>"
        for m in mails
    )
    empty = "<p>Keine E-Mails / No mail.</p>"
    return HTMLResponse(
        "<!doctype html><html lang='de'><meta charset='utf-8'><title>Postausgang (dev)</title>"
        f"<h1>Postausgang / Outbox (dev) — {len(mails)}</h1>{rows or empty}</html>"
    )
