"""The whole API's OpenAPI document at the gateway (``/api/openapi.json``) against the
running services' own documents: every route the gateway forwards is in it, and every
operation says which credential it needs and that its errors are problem+json; the
page ``/api/docs`` shows it under the pages' CSP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx

from crm_dev.stack import IMPLEMENTED, Stack
from crm_gateway.headers import CONTENT_SECURITY_POLICY
from crm_gateway.openapi import METHODS, PROBLEM_JSON
from crm_gateway.proxy import owner_of

SERVICES = [name for name in IMPLEMENTED if name != "gateway"]


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def resolved(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        *_, kind, name = node["$ref"].split("/")
        node = document["components"][kind][name]
    return node


def test_every_forwarded_route_is_in_the_document(stack: Stack) -> None:
    whole = httpx.get(f"{stack.gateway_url}/api/openapi.json")  # no token: it is public
    assert whole.status_code == 200, whole.text
    assert whole.headers["content-type"] == "application/json"
    document = whole.json()
    assert document["openapi"].startswith("3.1")
    found = {(method, path) for method, path, _ in operations(document)}
    expected = set()
    for service in SERVICES:
        own = httpx.get(f"http://127.0.0.1:{stack.port_of(service)}/openapi.json").json()
        for method, path, _ in operations(own):
            if owner_of(path) == service:
                expected.add((method, path))
    gateway_own = httpx.get(f"{stack.gateway_url}/openapi.json").json()
    for method, path, _ in operations(gateway_own):
        if path.startswith("/api/"):
            expected.add((method, path))
    assert expected <= found, sorted(expected - found)
    # and nothing else: what the document has, the gateway serves
    assert found == expected, sorted(found - expected)


def test_every_operation_declares_its_security_and_problem_errors(stack: Stack) -> None:
    document = httpx.get(f"{stack.gateway_url}/api/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": schemes["bearerAuth"]["description"],
    }
    assert (schemes["portalSession"]["in"], schemes["portalSession"]["name"]) == (
        "cookie",
        "crm_portal",
    )
    for method, path, operation in operations(document):
        where = f"{method.upper()} {path}"
        assert "security" in operation, where
        expected = "portalSession" if path.startswith("/portal/api/") else "bearerAuth"
        names = {name for requirement in operation["security"] for name in requirement}
        assert names in (set(), {expected}, {expected, "accessTokenQuery"}), where
        responses = operation["responses"]
        assert {"4XX", "5XX"} <= set(responses), where
        if names and {} not in operation["security"]:
            assert "401" in responses, where
        if "bearerAuth" in names:
            assert "403" in responses, where
        for status, response in responses.items():
            if status[0] in "45":
                content = resolved(document, response)["content"]
                assert set(content) == {PROBLEM_JSON}, (where, status)
                schema = resolved(document, content[PROBLEM_JSON]["schema"])
                assert schema.get("title") in ("Problem", "ValidationProblem"), (where, status)


def test_the_docs_page_shows_the_document_under_the_csp(stack: Stack) -> None:
    page = httpx.get(f"{stack.gateway_url}/api/docs")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    html = page.text
    assert 'data-url="/api/openapi.json"' in html
    assert "<script>" not in html and "style=" not in html  # nothing inline
    assets = re.findall(r'(?:src|href)="(/ui/static/[^"]+)"', html)
    assert len(assets) == 3, html
    for asset in assets:
        served = httpx.get(f"{stack.gateway_url}{asset}")
        assert served.status_code == 200, asset
        assert served.content, asset
