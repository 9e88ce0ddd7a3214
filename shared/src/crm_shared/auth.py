"""Staff tokens: the gateway issues them at login; every service verifies them.

The gateway forwards the caller's bearer token unchanged, so a service never trusts a
header it cannot verify. Claims carry what services need without calling the gateway
(name, initials, email for reply-to, roles, language).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Annotated, Literal

import jwt
from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from crm_shared.errors import Problem
from crm_shared.events import StaffRef, utcnow

Role = Literal["admin", "crm_user"]
_ALGORITHM = "HS256"
_AUDIENCE = "crm"


class StaffClaims(BaseModel):
    """The signed-in staff member, as the token says."""

    staff_id: str
    username: str
    name: str
    initials: str | None = None
    email: str | None = None
    roles: list[Role] = []
    language: Literal["de", "en"] = "de"

    @property
    def is_admin(self) -> bool:
        """Whether the staff member has the admin role."""
        return "admin" in self.roles

    @property
    def may_use_crm(self) -> bool:
        """Only ``crm_user`` or ``admin`` staff may use the CRM (seed 003)."""
        return bool({"admin", "crm_user"} & set(self.roles))

    def ref(self) -> StaffRef:
        """How events name this staff member."""
        return StaffRef(
            staff_id=self.staff_id, name=self.name, initials=self.initials, email=self.email
        )


def issue_token(claims: StaffClaims, secret: str, *, ttl: timedelta = timedelta(hours=12)) -> str:
    """A signed access token for ``claims``."""
    now = utcnow()
    payload = {
        **claims.model_dump(),
        "sub": claims.staff_id,
        "aud": _AUDIENCE,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(payload, secret, algorithm=_ALGORITHM)


_VERIFIED: dict[tuple[str, str], tuple[StaffClaims, float]] = {}
"""Tokens verified before, with their claims and expiry: a page asks the API a dozen
times with the same token, each through the gateway and a service, and the signature
check and claims parsing were 7 % of the gateway's CPU per proxied call."""
_VERIFIED_MAX = 10_000


def decode_token(token: str, secret: str) -> StaffClaims:
    """Verify a token; raises a 401 Problem when it is invalid or expired."""
    key = (token, secret)
    known = _VERIFIED.get(key)
    if known is not None:
        if time.time() < known[1]:
            return known[0]
        del _VERIFIED[key]
        raise Unauthorized("token expired")
    try:
        payload = jwt.decode(token, secret, algorithms=[_ALGORITHM], audience=_AUDIENCE)
    except jwt.ExpiredSignatureError as exc:
        _VERIFIED.pop(key, None)
        raise Unauthorized("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthorized("invalid token") from exc
    try:
        claims = StaffClaims.model_validate(payload)
    except ValidationError as exc:  # signed by us, but not claims we issue
        raise Unauthorized("invalid token") from exc
    if isinstance(payload.get("exp"), int | float):  # ours always expire
        if len(_VERIFIED) >= _VERIFIED_MAX:
            del _VERIFIED[next(iter(_VERIFIED))]  # the oldest
        _VERIFIED[key] = (claims, float(payload["exp"]))
    return claims


class Unauthorized(Problem):
    """401 with the ``WWW-Authenticate`` challenge."""

    def __init__(self, detail: str) -> None:
        super().__init__(401, detail, headers={"WWW-Authenticate": "Bearer"})


def bearer_token(request: Request) -> str:
    """The bearer token of a request, or a 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("missing bearer token")
    return token.strip()


def verified_staff(request: Request) -> StaffClaims:
    """The staff member of the request's bearer token (secret from ``app.state``), who
    must be one who may use the CRM (else 401/403)."""
    claims = decode_token(bearer_token(request), request.app.state.settings.jwt_secret)
    if not claims.may_use_crm:
        raise Problem(403, "the CRM needs the role crm_user or admin")
    return claims


async def current_staff(request: Request) -> StaffClaims:
    """FastAPI dependency: :func:`verified_staff`. The dependencies are ``async`` because
    FastAPI runs a plain ``def`` one in a worker thread: a hop there and back for
    every request, for work of microseconds."""
    return verified_staff(request)


async def admin_staff(staff: Annotated[StaffClaims, Depends(current_staff)]) -> StaffClaims:
    """FastAPI dependency: the signed-in staff member, who must be an admin."""
    if not staff.is_admin:
        raise Problem(403, "admin role required")
    return staff


CurrentStaff = Annotated[StaffClaims, Depends(current_staff)]
AdminStaff = Annotated[StaffClaims, Depends(admin_staff)]
