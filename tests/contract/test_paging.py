"""Every paged list of every service takes ``limit`` (1 to MAX_LIMIT, a 422 outside:
never clamped, never ignored) and ``cursor``, read from the services' own OpenAPI
documents, so a new list cannot forget them (``/api/staff``, ``/api/competences`` and
``/api/number-ranges`` once ignored both)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from crm_shared.paging import MAX_LIMIT

SERVICES = ["gateway", "contacts", "history", "interactions", "campaigns", "reminders", "notifier"]
OFFSET_PAGED = {"/api/contacts/{contact_id}/history"}
"""Lists paged by position (one entry at a time in the UI), with ``offset`` and ``limit``."""


def paged_lists(service: str) -> list[tuple[str, dict[str, Any]]]:
    """(path, parameters) of every GET whose answer is a page (``items`` and
    ``next_cursor``, or ``offset``)."""
    doc = importlib.import_module(f"crm_{service}.main").create_app().openapi()
    schemas = doc.get("components", {}).get("schemas", {})
    found = []
    for path, operations in doc["paths"].items():
        get = operations.get("get")
        if get is None:
            continue
        answer = get["responses"].get("200", {}).get("content", {}).get("application/json", {})
        name = answer.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
        fields = schemas.get(name, {}).get("properties", {})
        if "items" in fields and ("next_cursor" in fields or "offset" in fields):
            found.append((path, {p["name"]: p for p in get.get("parameters", [])}))
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_every_list_takes_a_bounded_limit_and_a_cursor(service: str) -> None:
    lists = paged_lists(service)
    assert lists, f"no paged list found in {service}'s document"
    for path, parameters in lists:
        assert "limit" in parameters, f"{service} {path} ignores limit"
        schema = parameters["limit"]["schema"]
        assert (schema.get("minimum"), schema.get("maximum")) == (1, MAX_LIMIT), (path, schema)
        paging = "offset" if path in OFFSET_PAGED else "cursor"
        assert paging in parameters, f"{service} {path} ignores {paging}"
