"""The response headers of every answer of the gateway, by what it is.

- Every answer: ``X-Content-Type-Options: nosniff`` (a JSON answer is never run as a
  script or page) and ``X-Frame-Options: DENY``.
- API answers (``/api/``, ``/portal/api/``, ``/dev/``): ``Referrer-Policy: no-referrer``
  (no API URL, with its ids and filters, leaks onward) and ``Cache-Control: no-store``
  unless the answer says otherwise (the notification stream says ``no-cache``): they
  hold personal data and tokens, no cache keeps them.
- Pages (``/ui``, ``/portal``): ``Referrer-Policy: same-origin``, the Content Security
  Policy below and ``no-store``; their static files are cached as they say.

uvicorn's ``server`` header is off in every service (``crm_shared.service.serve``). A
plain ASGI middleware (not ``BaseHTTPMiddleware``), so streamed answers pass through
untouched.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)
EVERY_ANSWER = {"x-content-type-options": "nosniff", "x-frame-options": "DENY"}
API_ANSWER = {"referrer-policy": "no-referrer", "cache-control": "no-store"}
PAGE = {
    "referrer-policy": "same-origin",
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "cache-control": "no-store",
}
ELSEWHERE = {"referrer-policy": "same-origin"}
"""Static files, health checks, metrics."""

API_PREFIXES = ("/api/", "/portal/api/", "/dev/")
PAGE_PREFIXES = ("/ui", "/portal")
"""Paths of pages (HTML); ``/portal/api`` is the portal's JSON API, not a page."""


def is_api(path: str) -> bool:
    return path.startswith(API_PREFIXES) or path in ("/api", "/portal/api")


def is_page(path: str) -> bool:
    return path == "/" or (path.startswith(PAGE_PREFIXES) and not is_api(path))


def headers_for(path: str) -> dict[str, str]:
    """The headers an answer at ``path`` gets, unless it set them itself."""
    if is_api(path):
        kind = API_ANSWER
    elif is_page(path) and not path.startswith("/ui/static/"):
        kind = PAGE
    else:
        kind = ELSEWHERE
    return {**EVERY_ANSWER, **kind}


class SecurityHeaders:
    """Adds :func:`headers_for` the path to every answer (an answer's own header wins)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = headers_for(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in added.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
