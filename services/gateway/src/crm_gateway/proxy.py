"""The one front door: routes ``/api/...`` to the owning service.

The gateway checks the bearer token first (so an anonymous request never reaches a
service) and forwards it unchanged; each service verifies it again.
"""

from __future__ import annotations

import re

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from crm_gateway.sessions import browser_token
from crm_gateway.settings import Settings
from crm_shared.auth import current_staff, decode_token
from crm_shared.errors import Problem

# Most specific first: a contact's history and timeline belong to the history service.
ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), service)
    for p, service in [
        (r"^/api/contacts/[^/]+/(history|timeline)(/|$)", "history"),
        (r"^/api/(contacts|number-ranges|groups)(/|$)", "contacts"),
        (r"^/api/(history|jobs)(/|$)", "history"),
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
)
# The portal has its own session (a cookie), checked by the service that owns it.
PUBLIC_PREFIXES = ("/portal/",)

router = APIRouter(tags=["proxy"])


def upstream_timeout(method: str, path: str, settings: Settings) -> httpx.Timeout:
    """The usual proxy timeout, or the long one for a long request (see LONG_REQUESTS).

    The read timeout is what matters: it runs from the last byte sent upstream to the
    first byte of the answer, and local socket buffers hold megabytes of an upload, so
    the upload "ends" long before the service has read, let alone processed, it."""
    usual = settings.proxy_timeout_seconds
    if any(m == method and p.match(path) for m, p in LONG_REQUESTS):
        return httpx.Timeout(settings.proxy_long_timeout_seconds, connect=usual)
    return httpx.Timeout(usual)


def owner_of(path: str) -> str | None:
    """The service that owns an API path, or None."""
    for pattern, service in ROUTES:
        if pattern.match(path):
            return service
    return None


async def check_caller(request: Request, headers: dict[str, str]) -> None:
    """401/403 unless the caller is a staff member who may use the CRM: by the bearer
    token, or (reading only) by the browser's session, whose token then goes upstream."""
    if "authorization" not in headers and (token := await browser_token(request)):
        claims = decode_token(token, request.app.state.settings.jwt_secret)
        if not claims.may_use_crm:
            raise Problem(403, "the CRM needs the role crm_user or admin")
        headers["authorization"] = f"Bearer {token}"
        return
    current_staff(request)


@router.api_route(
    "/api/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
)
@router.api_route(
    "/portal/api/{rest:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
async def proxy(request: Request, rest: str) -> Response:
    path = request.url.path
    service = owner_of(path)
    urls: dict[str, str] = request.app.state.settings.service_urls()
    if service is None or service not in urls:
        raise Problem(404, f"no API at {path}")
    headers = {k: v for k in FORWARD_REQUEST_HEADERS if (v := request.headers.get(k))}
    if not path.startswith(PUBLIC_PREFIXES):
        await check_caller(request, headers)  # 401/403 at the door
    client: httpx.AsyncClient = request.app.state.runtime.state["http"]
    upstream = client.build_request(
        request.method,
        urls[service] + path,
        params=request.query_params,
        headers=headers,
        content=request.stream(),
        timeout=upstream_timeout(request.method, path, request.app.state.settings),
    )
    try:
        response = await client.send(upstream, stream=True)
    except httpx.TimeoutException as exc:
        if isinstance(exc, httpx.ConnectTimeout):
            raise Problem(
                503,
                f"the {service} service is not reachable; try again",
                headers={"Retry-After": "2"},
            ) from exc
        raise Problem(
            504, f"the {service} service did not answer in time ({type(exc).__name__})"
        ) from exc
    except httpx.TransportError as exc:
        raise Problem(
            503, f"the {service} service is not reachable; try again", headers={"Retry-After": "2"}
        ) from exc
    downstream = StreamingResponse(
        response.aiter_raw(),
        status_code=response.status_code,
        headers={k: v for k in FORWARD_RESPONSE_HEADERS if (v := response.headers.get(k))},
        background=BackgroundTask(response.aclose),
    )
    for cookie in response.headers.get_list("set-cookie"):
        downstream.headers.append("set-cookie", cookie)
    return downstream
