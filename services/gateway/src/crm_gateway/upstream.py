"""The gateway's client to the services: one aiohttp session, its connections kept open.

Why not httpx (which the gateway used before): its connection pool (httpcore) looks at
every connection of the pool, and at every request waiting, each time a request starts or
ends. Under load, with dozens of connections open, that took 40-50 % of the gateway's
CPU (py-spy at 35 interactions a second) and grew with the queue: the gateway became the
bottleneck exactly when the services slowed down. aiohttp's connector hands a request a
free connection in constant time.

Every caller shares the session, so it keeps no cookies; it sends no headers of its own
(no ``Accept-Encoding``: the services' answers pass through as they are). Idle connections
are closed after two seconds, before the services' uvicorn closes them (after five): a
request sent on a connection the server is closing would fail.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

KEEPALIVE_SECONDS = 2.0


class UpstreamUnreachable(Exception):
    """The service did not take the request (refused, reset, no connection in time)."""


class UpstreamTimeout(Exception):
    """The service took the request but did not answer in time."""


@dataclass
class Answer:
    """A service's answer, its body not read yet: read it (:meth:`read`) or stream it
    (:meth:`chunks`), then :meth:`close` it."""

    status: int
    headers: CIMultiDictProxy[str]
    _response: aiohttp.ClientResponse

    @property
    def length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value is not None and value.isdigit() else None

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UpstreamTimeout(repr(exc)) from exc

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._response.content.iter_any():
            yield chunk

    async def close(self) -> None:
        self._response.release()


class Upstream:
    """One pooled session to the services."""

    def __init__(self, *, connections_per_service: int = 100) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=0,  # bounded per service below
                limit_per_host=connections_per_service,
                keepalive_timeout=KEEPALIVE_SECONDS,
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
            raise_for_status=False,
        )

    async def send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | Sequence[tuple[str, str]] | None,
        headers: Mapping[str, str],
        body: bytes | AsyncIterable[bytes] | None,
        connect_seconds: float,
        read_seconds: float,
    ) -> Answer:
        """Send the request; the answer as soon as its head is there. Raises
        :class:`UpstreamUnreachable` or :class:`UpstreamTimeout`."""
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_seconds, sock_read=read_seconds
        )
        try:
            response = await self._session.request(
                method,
                url,
                params=params,
                headers=headers,
                data=body,
                timeout=timeout,
                allow_redirects=False,
            )
        except aiohttp.ConnectionTimeoutError as exc:
            raise UpstreamUnreachable(repr(exc)) from exc
        except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
            raise UpstreamTimeout(repr(exc)) from exc
        except aiohttp.ClientError as exc:  # refused, reset, closed under us
            raise UpstreamUnreachable(repr(exc)) from exc
        return Answer(response.status, response.headers, response)

    async def get_ok(self, url: str, *, seconds: float) -> None:
        """Raise unless ``url`` answers 200 in ``seconds`` (the readiness checks)."""
        timeout = aiohttp.ClientTimeout(total=seconds)
        async with self._session.get(url, timeout=timeout) as response:
            if response.status != 200:
                raise UpstreamUnreachable(f"{url}: {response.status}")

    async def get_json(self, url: str, *, seconds: float) -> Any:
        """The JSON ``url`` answers with 200 in ``seconds`` (a service's API document);
        raises :class:`UpstreamUnreachable` otherwise."""
        timeout = aiohttp.ClientTimeout(total=seconds)
        try:
            async with self._session.get(url, timeout=timeout) as response:
                if response.status != 200:
                    raise UpstreamUnreachable(f"{url}: {response.status}")
                return await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise UpstreamUnreachable(f"{url}: {exc!r}") from exc

    async def close(self) -> None:
        await self._session.close()
