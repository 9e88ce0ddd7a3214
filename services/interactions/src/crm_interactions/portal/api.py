"""HTTP routes of the customer portal (``/portal/api``), thin: no staff token, the
portal's own session cookie instead (the gateway forwards cookies both ways)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Cookie, Depends, Query, Response
from fastapi.responses import JSONResponse

from crm_interactions.deps import Deps, PortalServiceDep
from crm_interactions.portal.schemas import (
    LoginLinkRequest,
    PortalInteraction,
    PortalInteractionPage,
    PortalMe,
    PortalMessage,
    PortalSessionRequest,
)
from crm_interactions.portal.service import PortalLogin
from crm_shared.paging import Cursor, Limit

COOKIE = "crm_portal"
COOKIE_PATH = "/portal"

router = APIRouter(prefix="/portal/api", tags=["portal"])

PortalCookie = Annotated[str | None, Cookie(alias=COOKIE)]


async def signed_in(service: PortalServiceDep, crm_portal: PortalCookie = None) -> str | None:
    """The session cookie, checked before the body is read: a request without a portal
    session is a 401 and learns nothing, not even what the body should hold (FastAPI
    runs dependencies before it validates the body)."""
    await service.contact_of(crm_portal)
    return crm_portal


SignedIn = Annotated[str | None, Depends(signed_in)]


@router.post("/login-link", status_code=202)
async def request_login_link(data: LoginLinkRequest, service: PortalServiceDep) -> dict[str, str]:
    """Always 202: the answer never tells whether the address belongs to a contact."""
    await service.request_login_link(str(data.email))
    return {"detail": "if the address belongs to a customer, a login link is on its way"}


def _signed_in(login: PortalLogin, deps: Deps) -> JSONResponse:
    """The signed-in customer, with the session cookie: HttpOnly, SameSite=Lax, only
    under /portal, ``Secure`` behind TLS (``CRM_INTERACTIONS_PORTAL_COOKIE_SECURE``)."""
    response = JSONResponse(login.me.model_dump(), headers={"Cache-Control": "no-store"})
    response.set_cookie(
        COOKIE,
        login.session_id,
        max_age=login.max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=deps.settings.portal_cookie_secure,
    )
    return response


@router.get("/session", response_model=PortalMe)
async def open_session_by_link(
    service: PortalServiceDep,
    deps: Deps,
    token: Annotated[str, Query(min_length=1, max_length=200)],
) -> JSONResponse:
    """Opening the login link: consumes the token once and sets the session cookie."""
    return _signed_in(await service.open_session(token), deps)


@router.post("/session", response_model=PortalMe)
async def open_session(
    data: PortalSessionRequest, service: PortalServiceDep, deps: Deps
) -> JSONResponse:
    return _signed_in(await service.open_session(data.token), deps)


@router.post("/logout", status_code=204)
async def logout(service: PortalServiceDep, crm_portal: PortalCookie = None) -> Response:
    await service.end_session(crm_portal)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax")
    return response


@router.get("/me", response_model=PortalMe)
async def me(service: PortalServiceDep, crm_portal: PortalCookie = None) -> PortalMe:
    return await service.me(crm_portal)


@router.get("/interactions", response_model=PortalInteractionPage)
async def list_interactions(
    service: PortalServiceDep,
    crm_portal: PortalCookie = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> PortalInteractionPage:
    """The signed-in customer's own interactions, never internal ones, newest first."""
    return await service.interactions(crm_portal, cursor=cursor, limit=limit)


@router.get("/interactions/{interaction_id}", response_model=PortalInteraction)
async def get_interaction(
    interaction_id: str, service: PortalServiceDep, crm_portal: PortalCookie = None
) -> PortalInteraction:
    return await service.interaction(crm_portal, interaction_id)


@router.post("/messages", status_code=201, response_model=PortalInteraction)
async def write_message(
    data: PortalMessage, service: PortalServiceDep, crm_portal: SignedIn
) -> PortalInteraction:
    """A message from the customer: an ``incoming`` interaction for the staff."""
    return await service.write_message(crm_portal, data)
