"""The whole API's OpenAPI document, assembled from small hand-made service documents
(the real services' documents: tests/api/test_openapi_document.py)."""

from __future__ import annotations

from typing import Any

import pytest

from crm_gateway.openapi import PROBLEM_JSON, assemble

VALIDATION_422 = {
    "description": "Validation Error",
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
    },
}
FASTAPI_ERRORS = {
    "HTTPValidationError": {
        "type": "object",
        "properties": {
            "detail": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}}
        },
    },
    "ValidationError": {"type": "object", "properties": {"msg": {"type": "string"}}},
}


def ok(schema: str) -> dict[str, Any]:
    return {
        "description": "ok",
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def documents() -> dict[str, dict[str, Any]]:
    health = {"get": {"operationId": "healthz", "responses": {"200": {"description": "ok"}}}}
    return {
        "gateway": {
            "openapi": "3.1.0",
            "paths": {
                "/healthz": health,
                "/api/auth/token": {
                    "post": {"operationId": "token", "responses": {"200": ok("Token")}}
                },
                "/api/staff": {"get": {"operationId": "staff", "responses": {"200": ok("Page")}}},
                "/api/notifications/stream": {
                    "get": {
                        "operationId": "stream",
                        "parameters": [
                            {"name": "access_token", "in": "query", "schema": {"type": "string"}}
                        ],
                        "responses": {"200": {"description": "events"}, "422": VALIDATION_422},
                    }
                },
                "/dev/mail": {"get": {"operationId": "mail", "responses": {}}},
            },
            "components": {
                "schemas": {
                    "Token": {"type": "object"},
                    "Page": {"type": "object", "properties": {"staff": {"type": "array"}}},
                    **FASTAPI_ERRORS,
                }
            },
        },
        "contacts": {
            "openapi": "3.1.0",
            "paths": {
                "/healthz": health,
                "/api/contacts": {
                    "get": {
                        "operationId": "list",
                        "tags": ["contacts"],
                        "responses": {"200": ok("Page"), "422": VALIDATION_422},
                    }
                },
                "/api/contacts/{contact_id}": {
                    "delete": {
                        "operationId": "delete",
                        "responses": {"204": {"description": "gone"}, "404": {"description": "no"}},
                    }
                },
                # served by the history service: the proxy never sends it here
                "/api/contacts/{contact_id}/history": {
                    "get": {"operationId": "stray", "responses": {"200": ok("Unused")}}
                },
            },
            "components": {
                "schemas": {
                    "Page": {"type": "object", "properties": {"items": {"type": "array"}}},
                    "Unused": {"type": "object"},
                    **FASTAPI_ERRORS,
                }
            },
        },
        "interactions": {
            "openapi": "3.1.0",
            "paths": {
                "/portal/api/login-link": {
                    "post": {"operationId": "link", "responses": {"202": {"description": "ok"}}}
                },
                "/portal/api/me": {
                    "get": {
                        "operationId": "list",  # the same id as the contacts' list
                        "parameters": [
                            {"name": "crm_portal", "in": "cookie", "schema": {"type": "string"}},
                            {"name": "lang", "in": "query", "schema": {"type": "string"}},
                        ],
                        "responses": {"200": {"description": "me"}},
                    }
                },
            },
        },
        "notifier": {
            "openapi": "3.1.0",
            "paths": {
                "/api/notifications/stream": {
                    "get": {"operationId": "upstream", "responses": {"200": {"description": "x"}}}
                },
                "/api/notifications": {
                    "get": {"operationId": "notes", "responses": {"200": {"description": "x"}}}
                },
            },
        },
    }


@pytest.fixture
def whole() -> dict[str, Any]:
    return assemble(documents(), api_version="1.2.3")


def test_only_what_the_gateway_serves(whole: dict[str, Any]) -> None:
    assert whole["openapi"] == "3.1.0"
    assert whole["info"]["version"] == "1.2.3"
    assert sorted(whole["paths"]) == [
        "/api/auth/token",
        "/api/contacts",
        "/api/contacts/{contact_id}",
        "/api/notifications",
        "/api/notifications/stream",
        "/api/staff",
        "/portal/api/login-link",
        "/portal/api/me",
    ]
    # the gateway's own route, matched before the proxy, is the one described
    assert whole["paths"]["/api/notifications/stream"]["get"]["operationId"] == "stream"


def test_schemas_of_one_name_that_differ_are_told_apart(whole: dict[str, Any]) -> None:
    schemas = whole["components"]["schemas"]
    assert schemas["gateway.Page"]["properties"] == {"staff": {"type": "array"}}
    assert schemas["contacts.Page"]["properties"] == {"items": {"type": "array"}}
    assert "Page" not in schemas
    staff = whole["paths"]["/api/staff"]["get"]["responses"]["200"]
    contacts = whole["paths"]["/api/contacts"]["get"]["responses"]["200"]
    assert staff["content"]["application/json"]["schema"]["$ref"].endswith("/gateway.Page")
    assert contacts["content"]["application/json"]["schema"]["$ref"].endswith("/contacts.Page")
    # FastAPI's validation error (replaced by problem+json) and what nothing uses are gone
    assert {"HTTPValidationError", "ValidationError", "Unused"}.isdisjoint(schemas)
    assert {"Problem", "ProblemFieldError", "ValidationProblem", "Token"} <= set(schemas)


def test_errors_are_problem_json(whole: dict[str, Any]) -> None:
    responses = whole["components"]["responses"]
    for response in responses.values():
        assert set(response["content"]) == {PROBLEM_JSON}
    listing = whole["paths"]["/api/contacts"]["get"]["responses"]
    assert listing["422"] == {"$ref": "#/components/responses/ValidationFailed"}
    deleting = whole["paths"]["/api/contacts/{contact_id}"]["delete"]["responses"]
    assert deleting["404"]["description"] == "no"
    assert set(deleting["404"]["content"]) == {PROBLEM_JSON}
    for item in whole["paths"].values():
        for operation in item.values():
            assert {"4XX", "5XX"} <= set(operation["responses"])


def test_security_per_operation(whole: dict[str, Any]) -> None:
    paths = whole["paths"]
    assert set(whole["components"]["securitySchemes"]) == {
        "bearerAuth",
        "portalSession",
        "accessTokenQuery",
    }
    assert paths["/api/auth/token"]["post"]["security"] == []
    assert "401" not in paths["/api/auth/token"]["post"]["responses"]
    assert paths["/portal/api/login-link"]["post"]["security"] == []
    staff = paths["/api/staff"]["get"]
    assert staff["security"] == [{"bearerAuth": []}]
    assert {"401", "403"} <= set(staff["responses"])
    me = paths["/portal/api/me"]["get"]
    assert me["security"] == [{"portalSession": []}]
    assert "401" in me["responses"]
    assert "403" not in me["responses"]
    # the credential is the security scheme, not a parameter to fill in
    assert [p["name"] for p in me["parameters"]] == ["lang"]
    stream = paths["/api/notifications/stream"]["get"]
    assert stream["security"] == [{"bearerAuth": []}, {"accessTokenQuery": []}]
    assert "parameters" not in stream


def test_operation_ids_stay_unique(whole: dict[str, Any]) -> None:
    ids = [op["operationId"] for item in whole["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert whole["paths"]["/portal/api/me"]["get"]["operationId"] == "list_"
