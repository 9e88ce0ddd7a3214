"""Helpers of the campaigns tests (through the gateway only)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx


async def create_contact(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {
        "kind": "person",
        "name": "Erika Mustermann",
        "email": f"kunde-{uuid.uuid4().hex[:12]}@example.com",
        **fields,
    }
    response = await api.post("/api/contacts", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def create_campaign(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {
        "name": f"Frühjahr {uuid.uuid4().hex[:6]}",
        "starts_on": "2026-03-01",
        "ends_on": "2026-05-31",
        **fields,
    }
    response = await api.post("/api/campaigns", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def problem_fields(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"].startswith("application/problem+json")
    return [e["field"] for e in response.json().get("errors", [])]
