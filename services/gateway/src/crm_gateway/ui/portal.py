"""The customer portal (``/portal/``): a login link by mail, then the customer's own
non-internal interactions and a message form, on the portal's API (``/portal/api``).

The portal's session cookie (``crm_portal``) belongs to the interactions service; the
pages pass it along and hand its ``Set-Cookie`` back to the browser unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form
from starlette.responses import RedirectResponse, Response

from crm_gateway.ui.client import ApiError, Reply
from crm_gateway.ui.context import Page, PublicPage
from crm_gateway.ui.forms import form_errors
from crm_gateway.ui.i18n import as_language

router = APIRouter(include_in_schema=False)


def _forward_cookies(reply: Reply, response: Response) -> Response:
    for cookie in reply.headers.get_list("set-cookie"):
        response.headers.append("set-cookie", cookie)
    return response


async def _me(page: Page) -> dict[str, Any] | None:
    try:
        me: dict[str, Any] = await page.api.get("/portal/api/me")
    except ApiError as problem:
        if problem.status in (401, 404):
            return None
        raise
    return me


async def _signed_in(page: Page, me: dict[str, Any], **context: Any) -> Response:
    if "lang" not in page.request.query_params and not page.request.cookies.get("crm_lang"):
        page.language = as_language(me.get("language")) or page.language
    answer = await page.api.get("/portal/api/interactions", limit=100)
    return page.render(
        "portal/home.html",
        me=me,
        items=answer["items"],
        form=context.pop("form", {}),
        errors=context.pop("errors", None),
        **context,
    )


@router.get("/portal")
@router.get("/portal/")
async def portal_home(page: PublicPage) -> Response:
    me = await _me(page)
    if me is None:
        return page.render("portal/login.html", sent=False, email="", errors=None)
    return await _signed_in(page, me)


@router.post("/portal/login-link")
async def request_link(page: PublicPage, email: Annotated[str, Form()] = "") -> Response:
    try:
        await page.api.post("/portal/api/login-link", json={"email": email.strip()})
    except ApiError as problem:
        if problem.status not in (422, 429):
            raise
        errors = form_errors(page, problem)
        if problem.status == 429:
            errors.fields["email"] = page._(
                "Zu viele Anmeldelinks für diese Adresse. "
                "Bitte versuchen Sie es später noch einmal."
            )
        return page.render(
            "portal/login.html", sent=False, email=email, errors=errors, status=problem.status
        )
    return page.render("portal/login.html", sent=True, email=email, errors=None)


@router.get("/portal/login")
async def open_link(page: PublicPage, token: str = "") -> Response:
    """The link in the mail: opens the portal session, then the portal's start page."""
    try:
        reply = await page.api.request("GET", "/portal/api/session", params={"token": token})
    except ApiError as problem:
        if problem.status not in (401, 422):
            raise
        return page.render(
            "portal/login.html",
            sent=False,
            email="",
            errors=None,
            link_problem=page._(
                "Dieser Anmeldelink ist abgelaufen oder wurde schon benutzt. "
                "Fordern Sie einfach einen neuen an."
            ),
            status=401,
        )
    return _forward_cookies(reply, RedirectResponse("/portal/", status_code=303))


@router.post("/portal/messages")
async def write_message(
    page: PublicPage,
    topic: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
) -> Response:
    me = await _me(page)
    if me is None:
        return RedirectResponse("/portal/", status_code=303)
    form = {"topic": topic, "text": text}
    try:
        await page.api.post(
            "/portal/api/messages", json={"topic": topic.strip(), "text": text.strip()}
        )
    except ApiError as problem:
        if problem.status != 422:
            raise
        return await _signed_in(page, me, form=form, errors=form_errors(page, problem), sent=False)
    return await _signed_in(page, me, sent=True)


@router.post("/portal/logout")
async def logout(page: PublicPage) -> Response:
    reply = await page.api.request("POST", "/portal/api/logout")
    return _forward_cookies(reply, RedirectResponse("/portal/", status_code=303))
