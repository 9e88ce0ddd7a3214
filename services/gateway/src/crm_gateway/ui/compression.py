"""gzip for the pages and their static files, and only for them.

A list page of 50 rows is ~35 KB of HTML and htmx 52 KB of JavaScript; compressed, a first
visit transfers a third of that. The API's answers pass through untouched: the proxy
streams the services' bytes as they come (compressing them would cost the gateway CPU on
the busiest path), and the notification stream must not be buffered."""

from __future__ import annotations

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from crm_gateway.headers import is_page


class PageCompression:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.compressed = GZipMiddleware(app, minimum_size=1000, compresslevel=6)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_page(scope["path"]):
            await self.compressed(scope, receive, send)
        else:
            await self.app(scope, receive, send)
