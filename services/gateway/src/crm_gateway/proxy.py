"""The one front door: routes ``/api/...`` to the owning service.

The gateway checks the bearer token first (so an anonymous request never reaches a
service) and forwards it unchanged; each service verifies it again. Every call to a
service goes through :func:`send_upstream` (the API proxy here, the pages too): it sends
the caller's consistency token along and remembers the one the answer carries
(:mod:`crm_gateway.consistency`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from crm_gateway.consistency import caller_of
from crm_gateway.limits import email_of_login_link_request
from crm_gateway.sessions import browser_token
from crm_gateway.settings import Settings
from crm_gateway.upstream import Answer, UpstreamTimeout, UpstreamUnreachable
from crm_shared import tracing
from crm_shared.auth import StaffClaims, decode_token, verified_staff
from crm_shared.consistency import HEADER as TOKEN_HEADER
from crm_shared.consistency import Token
from crm_shared.errors import Problem

if TYPE_CHECKING:
    from crm_gateway.deps import GatewayDeps

# Most specific first: a contact's history and timeline belong to the history service.
ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), service)
    for p, service in [
        (r"^/api/contacts/[^/]+/(history|timeline)(/|$)", "history"),
        # each service's part of a contact's personal data (the gateway assembles them)
        *(
            (rf"^/api/contacts/[^/]+/personal-data/{part}$", part)
            for part in ("history", "interactions", "campaigns", "reminders", "notifier")
        ),
        (r"^/api/(contacts|number-ranges|groups)(/|$)", "contacts"),
        (r"^/api/(history|jobs|audit)(/|$)", "history"),
        (r"^/api/(interactions|procedures)(/|$)", "interactions"),
        (r"^/api/(campaigns|opportunities|crm|dashboard)(/|$)", "campaigns"),
        (r"^/api/reminders(/|$)", "reminders"),
        (r"^/api/notifications(/|$)", "notifier"),
        (r"^/portal/api(/|$)", "interactions"),
    ]
]
# Requests whose answer comes only after the whole upload is processed (a 100,000-row
# import): the upstream may be silent far longer than the usual proxy timeout.
LONG_REQUESTS: list[tuple[str, re.Pattern[str]]] = [
    ("POST", re.compile(r"^/api/contacts/import/?$")),
    # a bulk action answers when it is done: accepting 100,000 contacts out of the inbox
    # takes about a minute, and a 504 then would report a failure of a change that the
    # service still commits
    ("POST", re.compile(r"^/api/contacts/bulk/?$")),
]
FORWARD_REQUEST_HEADERS = (
    "authorization",
    "content-type",
    "accept",
    "accept-language",
    "cookie",
    "last-event-id",
    "prefer",
)
FORWARD_RESPONSE_HEADERS = (
    "content-type",
    "content-disposition",
    "location",
    "www-authenticate",
    "retry-after",
    "cache-control",
    "preference-applied",
    TOKEN_HEADER,
)
# The portal has its own session (a cookie), checked by the service that owns it.
PUBLIC_PREFIXES = ("/portal/",)
LOGIN_LINK = "/portal/api/login-link"
"""Counted per email address before it is forwarded (``limits.LoginLinkLimit``)."""
PATH_SAFE = "/:@!$&'()*+,;=~"
"""What stays as it is when a decoded path is encoded again for the upstream (RFC 3986
``pchar`` and ``/``); everything else, ``%`` and control characters too, is escaped."""

router = APIRouter(tags=["proxy"])


@dataclass(frozen=True)
class UpstreamTimeouts:
    connect: float
    read: float


def upstream_timeout(method: str, path: str, settings: Settings) -> UpstreamTimeouts:
    """The usual proxy timeout, or the long one for a long request (see LONG_REQUESTS).

    The read timeout is what matters: it runs from the last byte sent upstream to the
    first byte of the answer, and local socket buffers hold megabytes of an upload, so
    the upload "ends" long before the service has read, let alone processed, it."""
    usual = settings.proxy_timeout_seconds
    if any(m == method and p.match(path) for m, p in LONG_REQUESTS):
        return UpstreamTimeouts(connect=usual, read=settings.proxy_long_timeout_seconds)
    return UpstreamTimeouts(connect=usual, read=usual)


def owner_of(path: str) -> str | None:
    """The service that owns an API path, or None."""
    for pattern, service in ROUTES:
        if pattern.match(path):
            return service
    return None


def upstream_path(path: str) -> str:
    """A decoded request path as sent upstream: encoded again, so ``/api/contacts/%00``
    reaches the service as it came (and answers its 404), and ``%25`` stays a percent
    sign instead of starting an escape."""
    return quote(path, safe=PATH_SAFE)


def service_at(path: str, settings: Settings) -> tuple[str, str]:
    """The owning service of ``path`` and its URL; 404 when no service answers there."""
    service = owner_of(path)
    urls = settings.service_urls()
    if service is None or service not in urls:
        raise Problem(404, f"no API at {path}")
    return service, urls[service]


async def send_upstream(
    deps: GatewayDeps,
    *,
    caller: str | None,
    method: str,
    path: str,
    params: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
    content: bytes | AsyncIterable[bytes] | None = None,
) -> Answer:
    """Send a request to the service that owns ``path`` and return its answer, its body
    not read yet (read or stream it, then close it); the one way the gateway calls a
    service.

    ``caller`` (see :func:`crm_gateway.consistency.caller_of`) gets the consistency token
    it has seen sent along, merged with one in ``headers``, and the answer's token
    recorded. A service that does not answer is a 503 (with ``Retry-After``) or a 504
    :class:`Problem`; a path no service owns, a 404.
    """
    settings = deps.settings
    service, url = service_at(path, settings)
    tokens = deps.tokens
    outgoing = {k: v for k, v in (headers or {}).items() if k.lower() != TOKEN_HEADER}
    sent = next((v for k, v in (headers or {}).items() if k.lower() == TOKEN_HEADER), None)
    token = (await tokens.token_for(caller)).merge(Token.parse(sent))
    if token:
        outgoing[TOKEN_HEADER] = token.header()
    timeouts = upstream_timeout(method, path, settings)
    with tracing.client_span(f"{method} {service}", **{"http.request.method": method}):
        tracing.inject(outgoing)  # the service continues the trace
        try:
            answer = await deps.upstream.send(
                method,
                url + upstream_path(path),
                params=params,
                headers=outgoing,
                body=content,
                connect_seconds=timeouts.connect,
                read_seconds=timeouts.read,
            )
        except UpstreamUnreachable as exc:
            raise Problem(
                503,
                f"the {service} service is not reachable; try again",
                headers={"Retry-After": "2"},
            ) from exc
        except UpstreamTimeout as exc:
            raise Problem(504, f"the {service} service did not answer in time ({exc})") from exc
    try:
        await tokens.record(caller, Token.parse(answer.headers.get(TOKEN_HEADER)))
    except BaseException:
        await answer.close()
        raise
    return answer


SMALL_ANSWER_BYTES = 1 << 20
"""Answers up to this size (with a ``Content-Length``) are read whole, larger ones and
those of unknown length (exports, event streams) streamed."""


def _has_body(request: Request) -> bool:
    """Whether the request sends a body (a GET streamed upstream would go out chunked)."""
    headers = request.headers
    return "transfer-encoding" in headers or headers.get("content-length", "0") != "0"


def _is_small(answer: Answer) -> bool:
    length = answer.length
    return (
        length is not None
        and length <= SMALL_ANSWER_BYTES
        and "content-encoding" not in answer.headers
    )


async def check_caller(request: Request) -> tuple[StaffClaims, str | None]:
    """The caller, who must be a staff member who may use the CRM (else 401/403): by the
    bearer token, or (reading only) by the browser's session; then also the
    ``Authorization`` to send upstream in its place (the session's token)."""
    if not request.headers.get("authorization") and (token := await browser_token(request)):
        claims = decode_token(token, request.app.state.settings.jwt_secret)
        if not claims.may_use_crm:
            raise Problem(403, "the CRM needs the role crm_user or admin")
        return claims, f"Bearer {token}"
    return verified_staff(request), None


@router.api_route(
    "/api/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
)
@router.api_route(
    "/portal/api/{rest:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
async def proxy(request: Request, rest: str) -> Response:
    path: str = request.scope["path"]  # as sent (request.url drops tabs and line breaks)
    service_at(path, request.app.state.settings)  # 404 before 401: nothing is there
    headers = {
        k: v for k in (*FORWARD_REQUEST_HEADERS, TOKEN_HEADER) if (v := request.headers.get(k))
    }
    caller = None
    if not path.startswith(PUBLIC_PREFIXES):
        staff, authorization = await check_caller(request)  # 401/403 at the door
        caller = caller_of(staff)
        if authorization:
            headers["authorization"] = authorization
    deps = request.app.state.deps
    body: bytes | AsyncIterable[bytes] | None = request.stream() if _has_body(request) else None
    if request.method == "POST" and path.rstrip("/") == LOGIN_LINK:
        body = await request.body()  # small: BodyLimits bounds it
        if email := email_of_login_link_request(body):
            await deps.login_link_limit.take(email)  # 429 beyond the limit
    answer = await send_upstream(
        deps,
        caller=caller,
        method=request.method,
        path=path,
        params=list(request.query_params.multi_items()),
        headers=headers,
        content=body,
    )
    forwarded = {k: v for k in FORWARD_RESPONSE_HEADERS if (v := answer.headers.get(k))}
    downstream: Response
    if _is_small(answer):
        # most answers: read at once (a streamed answer costs a task group per request)
        try:
            content = await answer.read()
        finally:
            await answer.close()
        downstream = Response(content, status_code=answer.status, headers=forwarded)
    else:  # an export, an event stream: passed on as it comes
        downstream = StreamingResponse(
            answer.chunks(),
            status_code=answer.status,
            headers=forwarded,
            background=BackgroundTask(answer.close),
        )
    for cookie in answer.headers.getall("set-cookie", []):
        downstream.headers.append("set-cookie", cookie)
    return downstream
