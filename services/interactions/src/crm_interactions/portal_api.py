"""HTTP routes of the customer portal (``/portal/api``): no staff token, the portal's
own session cookie instead (the gateway forwards cookies both ways)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Cookie, Query, Response
from fastapi.responses import JSONResponse

from crm_interactions.models import ContactCopy
from crm_interactions.portal import PortalService, to_portal
from crm_interactions.schemas import (
    LoginLinkRequest,
    PortalInteraction,
    PortalInteractionPage,
    PortalMe,
    PortalMessage,
    PortalSessionRequest,
)
from crm_interactions.service import InteractionService
from crm_interactions.settings import Settings
from crm_shared.errors import Unprocessable
from crm_shared.service import Runtime, RuntimeDep, SessionDep

COOKIE = "crm_portal"
COOKIE_PATH = "/portal"

router = APIRouter(prefix="/portal/api", tags=["portal"])

PortalCookie = Annotated[str | None, Cookie(alias=COOKIE)]


@router.post("/login-link", status_code=202)
async def request_login_link(
    data: LoginLinkRequest, session: SessionDep, runtime: RuntimeDep
) -> dict[str, str]:
    """Always 202: the answer never tells whether the address belongs to a contact."""
    settings = runtime.settings
    await PortalService(session, runtime.outbox).request_login_link(
        str(data.email),
        base_url=settings.portal_base_url,
        ttl=timedelta(minutes=settings.portal_token_minutes),
        pending=timedelta(minutes=settings.portal_pending_minutes),
    )
    return {"detail": "if the address belongs to a customer, a login link is on its way"}


def portal_me(contact: ContactCopy) -> PortalMe:
    return PortalMe(contact_id=contact.contact_id, name=contact.name, language=contact.language)


async def _open(token: str, session: SessionDep, runtime: Runtime[Settings]) -> JSONResponse:
    settings = runtime.settings
    ttl = timedelta(hours=settings.portal_session_hours)
    service = PortalService(session, runtime.outbox)
    session_id, _ = await service.open_session(token, ttl=ttl)
    contact = await service.contact_of(session_id)
    response = JSONResponse(
        portal_me(contact).model_dump(),
        headers={"Cache-Control": "no-store"},
    )
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=int(ttl.total_seconds()),
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=settings.portal_cookie_secure,
    )
    return response


@router.get("/session", response_model=PortalMe)
async def open_session_by_link(
    session: SessionDep,
    runtime: RuntimeDep,
    token: Annotated[str, Query(min_length=1, max_length=200)],
) -> JSONResponse:
    """Opening the login link: consumes the token once and sets the session cookie."""
    return await _open(token, session, runtime)


@router.post("/session", response_model=PortalMe)
async def open_session(
    data: PortalSessionRequest, session: SessionDep, runtime: RuntimeDep
) -> JSONResponse:
    return await _open(data.token, session, runtime)


@router.post("/logout", status_code=204)
async def logout(
    session: SessionDep, runtime: RuntimeDep, crm_portal: PortalCookie = None
) -> Response:
    await PortalService(session, runtime.outbox).end_session(crm_portal)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax")
    return response


async def _contact(
    session: SessionDep, runtime: Runtime[Settings], cookie: str | None
) -> ContactCopy:
    return await PortalService(session, runtime.outbox).contact_of(cookie)


@router.get("/me", response_model=PortalMe)
async def me(session: SessionDep, runtime: RuntimeDep, crm_portal: PortalCookie = None) -> PortalMe:
    contact = await _contact(session, runtime, crm_portal)
    return portal_me(contact)


@router.get("/interactions", response_model=PortalInteractionPage)
async def list_interactions(
    session: SessionDep,
    runtime: RuntimeDep,
    crm_portal: PortalCookie = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> PortalInteractionPage:
    """The signed-in customer's own interactions, never internal ones, newest first."""
    contact = await _contact(session, runtime, crm_portal)
    if cursor and not cursor.isdigit():
        raise Unprocessable("cursor", "invalid cursor")
    offset = int(cursor or 0)
    service = PortalService(session, runtime.outbox)
    rows = await service.repo.portal_interactions(contact.contact_id, offset, limit + 1)
    return PortalInteractionPage(
        items=[to_portal(row) for row in rows[:limit]],
        next_cursor=str(offset + limit) if len(rows) > limit else None,
    )


@router.get("/interactions/{interaction_id}", response_model=PortalInteraction)
async def get_interaction(
    interaction_id: str,
    session: SessionDep,
    runtime: RuntimeDep,
    crm_portal: PortalCookie = None,
) -> PortalInteraction:
    contact = await _contact(session, runtime, crm_portal)
    service = PortalService(session, runtime.outbox)
    return to_portal(await service.interaction(contact, interaction_id))


@router.post("/messages", status_code=201, response_model=PortalInteraction)
async def write_message(
    data: PortalMessage,
    session: SessionDep,
    runtime: RuntimeDep,
    crm_portal: PortalCookie = None,
) -> PortalInteraction:
    """A message from the customer: an ``incoming`` interaction for the staff."""
    contact = await _contact(session, runtime, crm_portal)
    interaction = await InteractionService(session, runtime.outbox).log_portal_message(
        contact, data.topic, data.text
    )
    return to_portal(interaction)
