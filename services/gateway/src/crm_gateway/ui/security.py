"""What protects the pages from cross-site requests (their headers: ``crm_gateway.headers``).

CSRF: every page sets a random ``crm_csrf`` cookie (HttpOnly, SameSite=Strict) and
writes the same value into its forms (``csrf_token``) and into htmx's request header
(``X-CSRF-Token``); a request that changes data must bring both, equal (OWASP "double
submit cookie"), and must not come from another site (``Sec-Fetch-Site`` / ``Origin``).
It needs no server state, so any gateway replica checks it.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from crm_shared.errors import Problem

CSRF_COOKIE = "crm_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(request: Request) -> str:
    """This browser's CSRF token (a new one if it has none yet; see :func:`set_csrf_cookie`)."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token:
        token = secrets.token_urlsafe(32)
        request.state.new_csrf = token
    return token


def set_csrf_cookie(request: Request, response: Response, *, secure: bool) -> None:
    """Send the token made for this request, if one was made."""
    token = getattr(request.state, "new_csrf", None)
    if token:
        response.set_cookie(
            CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/"
        )


def _same_origin(request: Request) -> bool:
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin and origin != "null":
        parts = urlsplit(origin)
        return parts.netloc == request.headers.get("host", request.url.netloc)
    return True


async def verify_csrf(request: Request) -> None:
    """Refuse (403) a request that changes data without this browser's own token."""
    if request.method in SAFE_METHODS:
        return
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if not cookie or not sent or not hmac.compare_digest(cookie, sent) or not _same_origin(request):
        raise Problem(403, "this form is out of date or comes from another site; reload the page")
