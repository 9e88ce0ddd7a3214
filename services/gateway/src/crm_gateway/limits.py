"""The limits a gateway on the internet needs, shared by every replica (counters in Redis).

- **Failed logins** (:class:`LoginLimits`): after ``login_failures_per_username`` (10)
  failed attempts for one username (in any case) within ``login_window_seconds`` (15
  minutes), ``POST /api/auth/token`` answers 429 with ``Retry-After`` for that username
  (also for the right password) until the oldest of those failures is older than the
  window; the same per client address with ``login_failures_per_address`` (100). A
  refused attempt is not counted; a successful login clears its username's failures
  (not its address's).
- **Portal login links** (:class:`LoginLinkLimit`): ``login_links_per_email`` (5) per
  address (in any case) within ``login_link_window_seconds`` (an hour), counted at the
  gateway before the interactions service sees the request, so a 429 with
  ``Retry-After`` says nothing about whether the address belongs to a contact.
- **Request bodies** (:class:`BodyLimits`): ``max_public_body_bytes`` (256 KiB) for a
  request without a signed-in staff member (a login, the portal), ``max_body_bytes``
  (8 MiB: a selection of 100,000 contact ids is 4 MB) for a signed-in staff member,
  ``max_import_bytes`` (64 MiB) for a CSV import by one; above: 413 problem+json. A
  declared ``Content-Length`` above the limit is refused before a byte is read; a body
  without one is counted as it is read. So an anonymous request can never make the
  gateway read more than ``max_public_body_bytes``.
- **The client's address** (:class:`ClientAddress`, :func:`client_address`): the TCP
  peer, or, with ``client_address_header`` set (e.g. ``X-Forwarded-For`` behind a
  proxy that sets it), the last address in that header, the one the nearest proxy
  wrote. The pages' in-process calls to the API keep the address of the browser's
  request they serve.

The counters are sliding windows: a sorted set per key (the moments of the events), so
"10 within 15 minutes" means exactly that, whatever the replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from redis.asyncio import Redis
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm_shared.auth import decode_token
from crm_shared.errors import Problem, problem_response

if TYPE_CHECKING:
    from crm_gateway.settings import Settings

KEY_PREFIX = "crm:limits:"

# Returns the seconds until one more event is allowed (0: allowed now). ``mode``:
# "check" only looks; "take" records the event only when allowed (and then returns 0);
# "hit" records it anyway and returns the wait that follows from it.
_WINDOW_SCRIPT = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local mode = ARGV[4]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
local function wait(n)
  if n < limit then return 0 end
  local oldest = redis.call('ZRANGE', key, n - limit, n - limit, 'WITHSCORES')
  return math.max(tonumber(oldest[2]) + window - now, 1)
end
if mode == 'check' then return wait(count) end
if mode == 'take' and count >= limit then return wait(count) end
redis.call('ZADD', key, now, ARGV[5])
redis.call('PEXPIRE', key, window)
if mode == 'take' then return 0 end
return wait(count + 1)
"""


class Windows(Protocol):
    """Sliding-window counters: how many events under a key within the last ``window``
    seconds, at most ``limit`` of them allowed. Each call returns the seconds until one
    more is allowed (0: now)."""

    async def check(self, key: str, *, limit: int, window: float) -> float: ...

    async def take(self, key: str, *, limit: int, window: float) -> float:
        """Count one event, if allowed."""
        ...

    async def hit(self, key: str, *, limit: int, window: float) -> float:
        """Count one event that happened (a failed login)."""
        ...

    async def clear(self, key: str) -> None: ...


class RedisWindows:
    """:class:`Windows` in Redis, one sorted set per key (moments in ms), changed by one
    Lua script, so concurrent replicas count every event once."""

    def __init__(self, redis: Redis, clock: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self._clock = clock
        self._script = redis.register_script(_WINDOW_SCRIPT)

    async def _run(self, mode: str, key: str, limit: int, window: float) -> float:
        now_ms = int(self._clock() * 1000)
        window_ms = int(window * 1000)
        waited = await self._script(
            keys=[key], args=[now_ms, window_ms, limit, mode, f"{now_ms}-{uuid.uuid4().hex}"]
        )
        return int(waited) / 1000

    async def check(self, key: str, *, limit: int, window: float) -> float:
        return await self._run("check", key, limit, window)

    async def take(self, key: str, *, limit: int, window: float) -> float:
        return await self._run("take", key, limit, window)

    async def hit(self, key: str, *, limit: int, window: float) -> float:
        return await self._run("hit", key, limit, window)

    async def clear(self, key: str) -> None:
        await self._redis.delete(key)


def limit_key(kind: str, value: str) -> str:
    """The Redis key of ``value``'s counter of ``kind``: hashed, so a key is short and
    names no username or address in the clear."""
    return f"{KEY_PREFIX}{kind}:{hashlib.sha256(value.encode()).hexdigest()[:40]}"


class TooManyRequests(Problem):
    """429 with ``Retry-After`` (whole seconds, at least 1)."""

    def __init__(self, detail: str, wait_seconds: float) -> None:
        retry_after = max(1, math.ceil(wait_seconds))
        super().__init__(
            429, detail, headers={"Retry-After": str(retry_after)}, retry_after=retry_after
        )


@dataclass(frozen=True)
class LoginLimits:
    """Failed logins per username and per client address (see the module)."""

    windows: Windows
    per_username: int = 10
    per_address: int = 100
    window_seconds: float = 15 * 60

    @classmethod
    def of(cls, windows: Windows, settings: Settings) -> LoginLimits:
        return cls(
            windows,
            per_username=settings.login_failures_per_username,
            per_address=settings.login_failures_per_address,
            window_seconds=settings.login_window_seconds,
        )

    def _keys(self, username: str, address: str | None) -> list[tuple[str, int]]:
        keys = [(limit_key("login-user", username.lower()), self.per_username)]
        if address:
            keys.append((limit_key("login-address", address), self.per_address))
        return keys

    async def refuse_when_blocked(self, username: str, address: str | None) -> None:
        """A 429 (:class:`TooManyRequests`) while the username or the address has had
        too many failures within the window; before the password is even looked at."""
        for key, limit in self._keys(username, address):
            wait = await self.windows.check(key, limit=limit, window=self.window_seconds)
            if wait > 0:
                raise TooManyRequests(
                    "too many failed sign-ins; try again later", wait_seconds=wait
                )

    async def failed(self, username: str, address: str | None) -> None:
        for key, limit in self._keys(username, address):
            await self.windows.hit(key, limit=limit, window=self.window_seconds)

    async def succeeded(self, username: str) -> None:
        """A right password clears the username's failures (the address keeps its own:
        one's own account must not reset a guesser's count)."""
        await self.windows.clear(self._keys(username, None)[0][0])


@dataclass(frozen=True)
class LoginLinkLimit:
    """Portal login links per email address (see the module)."""

    windows: Windows
    per_email: int = 5
    window_seconds: float = 60 * 60

    async def take(self, email: str) -> None:
        """Count a request for a link to ``email``; a 429 beyond the limit."""
        key = limit_key("login-link", email.strip().lower())
        wait = await self.windows.take(key, limit=self.per_email, window=self.window_seconds)
        if wait > 0:
            raise TooManyRequests(
                "too many login links for this address; try again later", wait_seconds=wait
            )


def email_of_login_link_request(body: bytes) -> str | None:
    """The ``email`` of a ``POST /portal/api/login-link`` body, None when it has none
    (the service answers that one with its 422)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested beyond reason
        return None
    email = data.get("email") if isinstance(data, dict) else None
    return email if isinstance(email, str) and email.strip() else None


# --- the client's address -------------------------------------------------------------

_ADDRESS: ContextVar[str | None] = ContextVar("crm_client_address", default=None)


def address_of(scope: Scope, header: str | None) -> str | None:
    """The client address of a request: the last one in ``header`` when set and
    present, else the TCP peer."""
    if header:
        value = Headers(scope=scope).get(header)
        if value:
            last = value.split(",")[-1].strip()
            if last:
                return last
    client = scope.get("client")
    return str(client[0]) if client else None


def client_address(request: Request) -> str | None:
    """The address of the client a request serves (see :class:`ClientAddress`)."""
    return _ADDRESS.get() or address_of(request.scope, None)


class ClientAddress:
    """Resolves each request's client address once, at the outermost request: the
    pages' calls to the API in-process (``ui/client.py``) run inside the browser's
    request and so keep its address, and no header can fake it on them."""

    def __init__(self, app: ASGIApp, header: str | None = None) -> None:
        self.app = app
        self.header = header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _ADDRESS.get() is not None:
            await self.app(scope, receive, send)
            return
        token = _ADDRESS.set(address_of(scope, self.header))
        try:
            await self.app(scope, receive, send)
        finally:
            _ADDRESS.reset(token)


# --- request bodies -------------------------------------------------------------------

IMPORTS = frozenset({("POST", "/api/contacts/import"), ("POST", "/ui/contacts/import")})
"""Requests that may carry a large body (a CSV file), for a signed-in staff member."""


class BodyTooLarge(Exception):
    """The body read so far is over the limit."""


SignedIn = Callable[[Scope], Awaitable[bool]]


class BodyLimits:
    """413 problem+json for a request body over its limit (see the module).

    Whether the caller is a signed-in staff member is only asked once the body (as
    declared or as read) is larger than ``max_public``: most requests never ask."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_public: int,
        max_body: int,
        max_import: int,
        signed_in: SignedIn,
    ) -> None:
        self.app = app
        self.max_public = max_public
        self.max_body = max(max_body, max_public)
        self.max_import = max(max_import, self.max_body)
        self.signed_in = signed_in

    async def staff_limit(self, scope: Scope) -> int:
        """The limit of a request larger than ``max_public``."""
        if not await self.signed_in(scope):
            return self.max_public
        path = scope["path"].rstrip("/") or "/"
        return self.max_import if (scope["method"], path) in IMPORTS else self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.max_public
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            limit = await self.staff_limit(scope)
            if int(declared) > limit:
                await _refuse(limit, scope, receive, send)
                return
        read = 0
        raised = False
        exceeded = False
        started = False

        async def counted_receive() -> Message:
            nonlocal read, limit, raised, exceeded
            if exceeded:
                raise BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > limit and not raised:
                    raised = True
                    limit = await self.staff_limit(scope)
                if read > limit:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:  # whatever the app makes of the broken body, the answer is 413
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _refuse(limit, scope, receive, send)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
            if not started:
                await _refuse(limit, scope, receive, send)


DRAIN_BYTES = 64 << 20
DRAIN_SECONDS = 5.0


async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    """The 413, after reading what the client still sends (up to ``DRAIN_BYTES`` or
    ``DRAIN_SECONDS``, discarded), as nginx's lingering close does: a server that
    answers and closes with the body unread resets the connection, and the client sees
    a broken connection instead of the 413."""
    drained = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_SECONDS):
            while drained <= DRAIN_BYTES:
                message = await receive()
                if message["type"] != "http.request":
                    break
                drained += len(message.get("body", b""))
                if not message.get("more_body", False):
                    break
    await _too_large(limit)(scope, receive, send)


def _too_large(limit: int) -> ASGIApp:
    response = problem_response(
        413, f"the request body is larger than {limit} bytes", max_bytes=limit
    )
    response.headers["connection"] = "close"
    return response


def staff_signed_in(jwt_secret: str, has_session: Callable[[str], Awaitable[bool]]) -> SignedIn:
    """Whether a request comes from a signed-in staff member: a valid bearer token, or
    a staff session cookie that is one."""

    async def check(scope: Scope) -> bool:
        headers = Headers(scope=scope)
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token:
            try:
                return decode_token(token.strip(), jwt_secret).may_use_crm
            except Problem:
                return False
        session_id = Request(scope).cookies.get("crm_session")
        return session_id is not None and await has_session(session_id)

    return check
