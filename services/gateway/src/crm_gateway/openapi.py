"""One OpenAPI document for the whole public API: ``GET /api/openapi.json``, shown by the
page ``GET /api/docs``.

Assembled from the services' own documents, which the gateway fetches over HTTP
(``GET <service>/openapi.json``) when it is first asked, and again after
``DOCUMENT_TTL_SECONDS``: the services never import each other (an import contract), and
each one is deployed on its own, so only the running service knows the routes it
serves. A document built into the gateway would describe the services as they were
when the gateway was built. Of each service's document the assembly keeps exactly the
paths the proxy routes to that service (``proxy.ROUTES``), adds the gateway's own
``/api`` routes, and then for every operation:

- the security it needs: the staff's bearer token (JWT), the portal's session cookie for
  ``/portal/api``, or nothing for the few public operations (``PUBLIC``); a credential
  the services declare as a plain parameter (the portal cookie, the stream's
  ``access_token``) becomes that security scheme;
- the errors as they are sent, ``application/problem+json`` (RFC 9457): a 422 with the
  ``errors`` list, 401 and 403 for secured operations, and any other 4XX and 5XX.

Schemas of the same name that differ between services get the service's name in front
(``contacts.Page``); schemas nothing refers to any more are left out.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from crm_gateway.headers import CONTENT_SECURITY_POLICY
from crm_gateway.proxy import owner_of
from crm_gateway.ui.static import static
from crm_gateway.upstream import Upstream, UpstreamUnreachable
from crm_shared.errors import PROBLEM_JSON, Problem

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]

DOCUMENT_PATH = "/api/openapi.json"
DOCS_PATH = "/api/docs"
DOCUMENT_TTL_SECONDS = 300.0
"""How long a service's document is used before it is fetched again (a deployment of a
service shows within this time); a service that does not answer keeps its last one."""
FETCH_TIMEOUT_SECONDS = 5.0
SWAGGER_UI_VERSION = "5.36.0"

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
API_PREFIXES = ("/api/", "/portal/api/")
GATEWAY = "gateway"

BEARER = "bearerAuth"
PORTAL_SESSION = "portalSession"
STREAM_QUERY = "accessTokenQuery"
PORTAL_COOKIE = "crm_portal"

PUBLIC: frozenset[tuple[str, str]] = frozenset(
    {
        ("post", "/api/auth/token"),
        ("post", "/portal/api/login-link"),
        ("get", "/portal/api/session"),  # the mailed link's token is the credential
        ("post", "/portal/api/session"),
    }
)
"""Operations anyone may call (the tests in tests/security prove everything else needs
a credential)."""
PORTAL_SESSION_OPTIONAL: frozenset[tuple[str, str]] = frozenset({("post", "/portal/api/logout")})
STREAM_PATH = "/api/notifications/stream"

SECURITY_SCHEMES: JSONDict = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A staff member's token from `POST /api/auth/token`; the roles "
        "`crm_user` or `admin` open the CRM, some operations need `admin`.",
    },
    PORTAL_SESSION: {
        "type": "apiKey",
        "in": "cookie",
        "name": PORTAL_COOKIE,
        "description": "The customer portal's session, set by `POST|GET /portal/api/session` "
        "with the token of a mailed login link. It opens only `/portal/api`.",
    },
    STREAM_QUERY: {
        "type": "apiKey",
        "in": "query",
        "name": "access_token",
        "description": "The bearer token as a query parameter, for the notification stream "
        "only (a browser's EventSource sends no header).",
    },
}

PROBLEM_SCHEMA: JSONDict = {
    "type": "object",
    "title": "Problem",
    "description": "An error (RFC 9457 problem details); more members may follow.",
    "properties": {
        "type": {"type": "string", "default": "about:blank"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 100, "maximum": 599},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ProblemFieldError"}},
        "code": {"type": "string", "description": "a stable name of the rule broken"},
    },
    "required": ["title", "status", "detail"],
}
FIELD_ERROR_SCHEMA: JSONDict = {
    "type": "object",
    "title": "ProblemFieldError",
    "properties": {
        "field": {"type": "string", "description": "`address.zip`; `body` for the whole body"},
        "message": {"type": "string"},
        "type": {"type": "string", "description": "the kind of error (`missing`, ...)"},
    },
    "required": ["field", "message"],
}
VALIDATION_PROBLEM_SCHEMA: JSONDict = {
    "allOf": [
        {"$ref": "#/components/schemas/Problem"},
        {"type": "object", "required": ["errors"]},
    ],
    "title": "ValidationProblem",
}


def _problem(description: str, schema: str = "Problem", **extra: Any) -> JSONDict:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        **extra,
    }


PROBLEM_RESPONSES: JSONDict = {
    "ValidationFailed": _problem(
        "The request is not valid: `errors` names each field and what is wrong with it.",
        "ValidationProblem",
    ),
    "Unauthorized": _problem(
        "No valid credential (missing, expired, not signed by this CRM).",
        headers={"WWW-Authenticate": {"schema": {"type": "string"}}},
    ),
    "Forbidden": _problem("The staff member's roles do not allow this."),
    "ClientError": _problem("The request cannot be served as it is (problem details)."),
    "ServerError": _problem(
        "The service failed or is unreachable; with `Retry-After`, try again then.",
        headers={"Retry-After": {"schema": {"type": "string"}}},
    ),
}


def _ref(kind: str, name: str) -> JSONDict:
    return {"$ref": f"#/components/{kind}/{name}"}


def security_of(method: str, path: str) -> list[dict[str, list[str]]]:
    """The security requirement of an operation (alternatives; ``{}`` means none)."""
    if (method, path) in PUBLIC:
        return []
    if (method, path) in PORTAL_SESSION_OPTIONAL:
        return [{}, {PORTAL_SESSION: []}]
    if path.startswith("/portal/api/"):
        return [{PORTAL_SESSION: []}]
    if path == STREAM_PATH:
        return [{BEARER: []}, {STREAM_QUERY: []}]
    return [{BEARER: []}]


def _operations(paths: Mapping[str, JSONDict]) -> Iterator[tuple[str, str, JSONDict]]:
    for path, item in paths.items():
        for method in METHODS:
            if isinstance(item.get(method), dict):
                yield path, method, item[method]


def _walk_refs(node: Any, rename: Callable[[str], str]) -> Any:
    """``node`` with every ``$ref`` string passed through ``rename`` (in place)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                node[key] = rename(value)
            else:
                _walk_refs(value, rename)
    elif isinstance(node, list):
        for value in node:
            _walk_refs(value, rename)
    return node


def _refs_in(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs_in(value)


SCHEMA_REF = "#/components/schemas/"


def _schema_names(documents: Mapping[str, JSONDict]) -> dict[str, dict[str, str]]:
    """Per source, its schemas' names in the whole document: a name whose schemas differ
    between sources gets the source's name in front in each of them."""
    variants: dict[str, list[str]] = {}
    for document in documents.values():
        for name, schema in document.get("components", {}).get("schemas", {}).items():
            text = json.dumps(schema, sort_keys=True)
            if text not in variants.setdefault(name, []):
                variants[name].append(text)
    return {
        source: {
            name: name if len(variants[name]) == 1 else f"{source}.{name}"
            for name in document.get("components", {}).get("schemas", {})
        }
        for source, document in documents.items()
    }


def _served_paths(source: str, document: JSONDict) -> Iterator[tuple[str, JSONDict]]:
    """The paths of ``source``'s document that the gateway serves: its own ``/api``
    routes, or those the proxy routes to that service."""
    for path, item in document.get("paths", {}).items():
        if not path.startswith(API_PREFIXES):
            continue
        if source == GATEWAY or owner_of(path) == source:
            yield path, item


def _credential_parameter(parameter: JSONDict) -> bool:
    """A parameter that is in fact the credential of a security scheme."""
    return any(
        scheme["type"] == "apiKey"
        and parameter.get("in") == scheme["in"]
        and parameter.get("name") == scheme["name"]
        for scheme in SECURITY_SCHEMES.values()
    )


def _with_problems(path: str, method: str, operation: JSONDict) -> None:
    """Security, problem+json errors and unique ids on one operation (in place)."""
    security = security_of(method, path)
    operation["security"] = security
    parameters = [p for p in operation.get("parameters", []) if not _credential_parameter(p)]
    if parameters:
        operation["parameters"] = parameters
    else:
        operation.pop("parameters", None)
    responses: JSONDict = operation.setdefault("responses", {})
    for status, response in list(responses.items()):
        if status[:1] not in "45" or PROBLEM_JSON in response.get("content", {}):
            continue
        # FastAPI's own 422 (HTTPValidationError), or an error described without its body
        if status == "422":
            responses[status] = _ref("responses", "ValidationFailed")
        elif status[:1] == "5":
            responses[status] = _ref("responses", "ServerError")
        else:
            responses[status] = _problem(response.get("description") or "An error.")
    secured = bool(security) and {} not in security
    if secured:
        responses.setdefault("401", _ref("responses", "Unauthorized"))
    if any(BEARER in requirement for requirement in security):
        responses.setdefault("403", _ref("responses", "Forbidden"))
    responses.setdefault("4XX", _ref("responses", "ClientError"))
    responses.setdefault("5XX", _ref("responses", "ServerError"))


def _reachable_schemas(document: JSONDict) -> set[str]:
    schemas = document["components"]["schemas"]
    roots = [document["paths"], document["components"]["responses"]]
    seen: set[str] = set()
    todo = [ref for root in roots for ref in _refs_in(root)]
    while todo:
        ref = todo.pop()
        if not ref.startswith(SCHEMA_REF):
            continue
        name = ref.removeprefix(SCHEMA_REF)
        if name in seen or name not in schemas:
            continue
        seen.add(name)
        todo.extend(_refs_in(schemas[name]))
    return seen


def assemble(documents: Mapping[str, JSONDict], *, api_version: str = "0") -> JSONDict:
    """The whole API's document from the sources' own: ``documents`` maps ``"gateway"``
    and each routed service's name to its OpenAPI document. The gateway's own routes win
    over a service's at the same path and method (they are matched before the proxy)."""
    names = _schema_names(documents)
    paths: dict[str, JSONDict] = {}
    schemas: JSONDict = {
        "Problem": copy.deepcopy(PROBLEM_SCHEMA),
        "ProblemFieldError": copy.deepcopy(FIELD_ERROR_SCHEMA),
        "ValidationProblem": copy.deepcopy(VALIDATION_PROBLEM_SCHEMA),
    }
    operation_ids: set[str] = set()
    tags: dict[str, JSONDict] = {}
    ordered = sorted(documents, key=lambda source: source != GATEWAY)  # the gateway first
    for source in ordered:
        document = copy.deepcopy(documents[source])
        mapping = names[source]

        def rename(ref: str, mapping: dict[str, str] = mapping) -> str:
            if ref.startswith(SCHEMA_REF):
                return SCHEMA_REF + mapping.get(ref.removeprefix(SCHEMA_REF), ref)
            return ref

        for name, schema in document.get("components", {}).get("schemas", {}).items():
            schemas.setdefault(mapping[name], _walk_refs(schema, rename))
        for path, item in _served_paths(source, document):
            target = paths.setdefault(path, {})
            for key, value in item.items():
                if key in METHODS and key in target:
                    continue  # the gateway's own route comes first
                target.setdefault(key, _walk_refs(value, rename))
    for path, method, operation in _operations(paths):
        _with_problems(path, method, operation)
        ident = operation.get("operationId") or f"{method}_{path}"
        while ident in operation_ids:
            ident += "_"
        operation["operationId"] = ident
        operation_ids.add(ident)
        for tag in operation.get("tags", []):
            tags.setdefault(tag, {"name": tag})
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "CRM API",
            "version": api_version,
            "description": "The whole public HTTP API at the gateway, assembled from the "
            "services' own documents. Errors are `application/problem+json`; lists are "
            '`{"items": [...], "next_cursor": ...}` with `?limit=` and `?cursor=`.',
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "responses": copy.deepcopy(PROBLEM_RESPONSES),
            "securitySchemes": copy.deepcopy(SECURITY_SCHEMES),
        },
        "security": [{BEARER: []}],
        "tags": sorted(tags.values(), key=lambda tag: str(tag["name"])),
    }
    keep = _reachable_schemas(document)
    document["components"]["schemas"] = {
        name: schema for name, schema in sorted(schemas.items()) if name in keep
    }
    return document


@dataclass
class _Fetched:
    document: JSONDict
    at: float


class ApiDocument:
    """The assembled document of one gateway, from the services' documents as fetched
    last (each again after ``ttl`` seconds; a service that does not answer then keeps
    its last one), assembled again only when one of them changed."""

    def __init__(self, ttl: float = DOCUMENT_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._fetched: dict[str, _Fetched] = {}
        self._lock = asyncio.Lock()
        self._rendered: bytes | None = None

    async def body(self, app: FastAPI, upstream: Upstream, urls: Mapping[str, str]) -> bytes:
        """The document as JSON bytes; 503 while a routed service never answered."""
        async with self._lock:  # one round of fetches at a time, however many ask
            now = time.monotonic()
            due = [
                name
                for name in urls
                if name not in self._fetched or now - self._fetched[name].at > self.ttl
            ]
            results = await asyncio.gather(*(self._fetch(upstream, urls[name]) for name in due))
            for name, document in zip(due, results, strict=True):
                if document is None:
                    continue
                known = self._fetched.get(name)
                if known is None or known.document != document:
                    self._rendered = None  # a service's routes changed: assemble again
                self._fetched[name] = _Fetched(document, now)
            missing = sorted(set(urls) - set(self._fetched))
            if missing:
                raise Problem(
                    503,
                    f"the API document of {', '.join(missing)} is not available yet; try again",
                    headers={"Retry-After": "2"},
                )
            if self._rendered is None:
                sources = {name: self._fetched[name].document for name in urls}
                whole = assemble({GATEWAY: app.openapi(), **sources}, api_version=_version())
                self._rendered = json.dumps(whole, ensure_ascii=False).encode()
            return self._rendered

    async def _fetch(self, upstream: Upstream, url: str) -> JSONDict | None:
        try:
            document = await upstream.get_json(f"{url}/openapi.json", seconds=FETCH_TIMEOUT_SECONDS)
        except UpstreamUnreachable as exc:
            log.warning("no API document from %s (%r)", url, exc)
            return None
        return document if isinstance(document, dict) else None


def _version() -> str:
    try:
        return version("crm-gateway")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "0"


router = APIRouter()


@router.get(DOCUMENT_PATH, include_in_schema=False)
async def openapi_document(request: Request) -> Response:
    """The whole public API as one OpenAPI 3.1 document (public: it holds no data)."""
    app = request.app
    document: ApiDocument = app.state.api_document
    body = await document.body(app, app.state.deps.upstream, app.state.settings.service_urls())
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-cache"})


DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>CRM API</title>
<link rel="stylesheet" href="{css}">
</head>
<body>
<div id="swagger-ui" data-url="{document}"></div>
<script src="{bundle}"></script>
<script src="{start}"></script>
</body>
</html>
"""


@router.get(DOCS_PATH, include_in_schema=False)
async def api_docs() -> HTMLResponse:
    """The document shown by Swagger UI (vendored, started from a file of ours, so the
    pages' CSP without ``'unsafe-inline'`` holds here too)."""
    page = DOCS_PAGE.format(
        css=static(f"vendor/swagger-ui-{SWAGGER_UI_VERSION}.css"),
        bundle=static(f"vendor/swagger-ui-bundle-{SWAGGER_UI_VERSION}.js"),
        start=static("api-docs.js"),
        document=DOCUMENT_PATH,
    )
    return HTMLResponse(
        page,
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"},
    )


def install_api_document(app: FastAPI) -> None:
    """``/api/openapi.json`` and ``/api/docs`` on the gateway (before the proxy's
    catch-all route, which :func:`crm_gateway.main.create_app` adds after this one)."""
    app.state.api_document = ApiDocument()
