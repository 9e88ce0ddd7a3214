"""How the pages reach the data: the gateway's own public API, called in-process.

A page asks ``/api/...`` exactly as any API client does, with the signed-in staff
member's token (or the customer's portal cookie), through the same routes, the same
token check, the same proxy to the owning service; only the TCP hop to the gateway
itself is left out (``httpx.ASGITransport``). So every rule and every event stays in the
service that owns it, and the pages cannot do what the API would not allow.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from starlette.types import ASGIApp

from crm_gateway.cookies import without_cookies

T = TypeVar("T")


@dataclass
class ApiError(Exception):
    """A problem+json answer of the API (RFC 9457)."""

    status: int
    detail: str
    errors: list[dict[str, Any]] = field(default_factory=list)
    body: dict[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}"

    @property
    def fields(self) -> dict[str, str]:
        """The message of each field the problem names."""
        return {str(e.get("field")): str(e.get("message", "")) for e in self.errors}


class SessionExpired(Exception):
    """The API answered 401: the token is gone or expired; sign in again."""


@dataclass
class Reply:
    """An answer of the API that a page forwards parts of (cookies, files)."""

    status: int
    headers: httpx.Headers
    content: bytes

    def json(self) -> Any:
        return httpx.Response(self.status, content=self.content).json()


def _problem(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return ApiError(
        status=response.status_code,
        detail=str(body.get("detail") or response.reason_phrase),
        errors=list(body.get("errors") or []),
        body=body,
        headers=dict(response.headers),
    )


class Api:
    """The API as one caller sees it (a staff token, or the portal's cookie)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        token: str | None = None,
        cookies: Mapping[str, str] = {},
    ) -> None:
        self._client = client
        self._headers = {"authorization": f"Bearer {token}"} if token else {}
        self._cookies = dict(cookies)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        json: Any = None,
        content: bytes | AsyncIterator[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Call the API; a problem answer raises :class:`ApiError` (401: ``SessionExpired``)."""
        response = await self._client.request(
            method,
            path,
            params=_clean(params),
            json=json,
            content=content,
            headers={**self._headers, **(headers or {})},
            cookies=self._cookies,
        )
        if response.status_code == 401 and self._headers:
            raise SessionExpired
        if response.status_code >= 400:
            raise _problem(response)
        return Reply(response.status_code, response.headers, response.content)

    async def get(self, path: str, **params: Any) -> Any:
        return (await self.request("GET", path, params=params)).json()

    async def get_params(self, path: str, params: Sequence[tuple[str, Any]]) -> Any:
        return (await self.request("GET", path, params=params)).json()

    async def post(self, path: str, json: Any = None) -> Any:
        reply = await self.request("POST", path, json=json)
        return reply.json() if reply.content else None

    async def patch(self, path: str, json: Any) -> Any:
        return (await self.request("PATCH", path, json=json)).json()

    async def put(self, path: str, json: Any) -> Any:
        return (await self.request("PUT", path, json=json)).json()

    async def delete(self, path: str) -> None:
        await self.request("DELETE", path)


QueryList = list[tuple[str, str | int | float | bool | None]]


def _clean(params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None) -> QueryList | None:
    """Query parameters without the empty ones (an empty form field is no filter)."""
    if params is None:
        return None
    items = params.items() if isinstance(params, Mapping) else params
    cleaned: QueryList = [(k, _text(v)) for k, v in items if v is not None and v != ""]
    return cleaned


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def in_process_client(app: ASGIApp) -> httpx.AsyncClient:
    """The client the pages share: requests go straight into the gateway app.

    Like the proxy's client it keeps no cookies (``without_cookies``): one caller's
    Set-Cookie must never go along with another's request."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://gateway",
        timeout=60,
        cookies=without_cookies(),
    )


async def gather(*calls: Awaitable[T]) -> list[T]:
    """Run a page's API calls concurrently (each is a hop to some service)."""
    return list(await asyncio.gather(*calls))
