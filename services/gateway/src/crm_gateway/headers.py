"""Headers of every API answer of the gateway (its own routes and the proxied ones).

- ``X-Content-Type-Options: nosniff``: a JSON answer is never run as a script or page.
- ``Referrer-Policy: no-referrer``: no API URL (with its ids and filters) leaks onward.
- ``Cache-Control: no-store`` unless the answer says otherwise (the notification stream
  says ``no-cache``): answers hold personal data and tokens, no cache keeps them.

The pages get their own (``ui/security.py``: CSP, ``no-store``); uvicorn's ``server``
header is off in every service (``crm_shared.service.serve``). A plain ASGI middleware,
so streamed answers pass through untouched.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_PREFIXES = ("/api/", "/portal/api/", "/dev/")
API_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def is_api(path: str) -> bool:
    return path.startswith(API_PREFIXES) or path in ("/api", "/portal/api")


class ApiHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_api(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in API_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
