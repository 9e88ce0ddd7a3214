"""Signing in and out of the staff pages (``/ui/login``, ``/ui/logout``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from crm_gateway.sessions import (
    COOKIE,
    StaffSession,
    clear_session_cookie,
    set_session_cookie,
)
from crm_gateway.ui.client import Api, ApiError
from crm_gateway.ui.context import PublicPage, redirect, safe_next, ui_of

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home() -> Response:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui")
@router.get("/ui/")
async def ui_home() -> Response:
    return RedirectResponse("/ui/contacts", status_code=307)


@router.get("/ui/login")
async def login_form(page: PublicPage, next: str = "", expired: str = "") -> Response:
    return page.render(
        "login.html", next=safe_next(next), username="", error=None, expired=expired == "1"
    )


@router.post("/ui/login")
async def login(
    page: PublicPage,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    ui = ui_of(page.request)
    target = safe_next(next)

    def again(error: str, status: int) -> Response:
        return page.render(
            "login.html", next=target, username=username, error=error, status=status, expired=False
        )

    try:
        token = await page.api.post(
            "/api/auth/token", json={"username": username, "password": password}
        )
        me = await Api(ui.client, token=token["access_token"]).get("/api/me")
    except ApiError as problem:
        if problem.status == 403:
            return again(page._("Ihr Konto hat keinen Zugang zum CRM."), 403)
        if problem.status == 429:
            return again(page._("Zu viele Versuche. Bitte warten Sie etwas."), 429)
        if problem.status in (401, 422):
            return again(page._("Benutzername oder Passwort ist falsch."), 401)
        raise
    session = StaffSession(
        token=token["access_token"],
        staff_id=me["id"],
        username=me["username"],
        name=me["name"],
        roles=list(me["roles"]),
        language=me["language"],
        email=me.get("email"),
        initials=me.get("initials"),
    )
    ttl = min(int(token.get("expires_in") or ui.token_ttl_seconds), ui.token_ttl_seconds)
    session_id = await ui.sessions.create(session, ttl)
    response = redirect(page.request, target)
    set_session_cookie(response, session_id, ttl, secure=ui.secure_cookies)
    return response


@router.post("/ui/logout")
async def logout(request: Request, page: PublicPage) -> Response:
    await ui_of(request).sessions.delete(request.cookies.get(COOKIE))
    response = redirect(request, "/ui/login")
    clear_session_cookie(response)
    return response
