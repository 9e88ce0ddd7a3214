"""Staff sessions of the browser: a random id in an HttpOnly cookie, the rest in Redis.

Redis holds, under the hash of the id (so its keys are no usable cookies), the staff
member's API token and who they are; every gateway replica reads the same record, and
"Abmelden" deletes it, so a copied cookie is worthless from then on. A session lives as
long as its token.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from crm_gateway.deps import GatewayDeps

COOKIE = "crm_session"
PREFIX = "crm:ui:session:"
FLASH_SECONDS = 300


@dataclass(frozen=True)
class StaffSession:
    """A signed-in staff member, as the pages need them."""

    token: str
    staff_id: str
    username: str
    name: str
    roles: list[str]
    language: str
    email: str | None = None
    initials: str | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


def _key(session_id: str) -> str:
    return PREFIX + hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def create(self, session: StaffSession, ttl_seconds: int) -> str:
        """Store ``session``; returns the id for the cookie."""
        session_id = secrets.token_urlsafe(32)
        await self.redis.set(_key(session_id), json.dumps(asdict(session)), ex=ttl_seconds)
        return session_id

    async def get(self, session_id: str | None) -> StaffSession | None:
        if not session_id:
            return None
        raw = await self.redis.get(_key(session_id))
        if raw is None:
            return None
        data: dict[str, Any] = json.loads(raw)
        return StaffSession(**data)

    async def delete(self, session_id: str | None) -> None:
        if session_id:
            await self.redis.delete(_key(session_id), _key(session_id) + ":flash")

    async def push_flash(self, session_id: str, message: str, kind: str) -> None:
        """A message for the next page this session sees (after a redirect)."""
        key = _key(session_id) + ":flash"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, json.dumps({"message": message, "kind": kind}))
            pipe.expire(key, FLASH_SECONDS)
            await pipe.execute()

    async def pop_flashes(self, session_id: str) -> list[dict[str, str]]:
        key = _key(session_id) + ":flash"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lrange(key, 0, -1)
            pipe.delete(key)
            raw, _ = await pipe.execute()
        return [json.loads(item) for item in raw]


def set_session_cookie(
    response: Response, session_id: str, ttl_seconds: int, *, secure: bool
) -> None:
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=ttl_seconds,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")


def store_of(request: Request) -> SessionStore:
    deps: GatewayDeps = request.app.state.deps
    return deps.sessions


async def browser_token(request: Request) -> str | None:
    """The API token of the browser's staff session, for requests that only read.

    A signed-in browser reads the API with its session cookie (the CSV export link, the
    notification stream), so no token ever sits in a page or a URL. Only for GET and
    HEAD: a change through the API needs the bearer token, so the cookie alone can never
    be used for a cross-site request that changes data."""
    if request.method not in ("GET", "HEAD"):
        return None
    session = await store_of(request).get(request.cookies.get(COOKIE))
    return session.token if session else None
