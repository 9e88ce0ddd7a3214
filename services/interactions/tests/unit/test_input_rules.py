"""What a fuzzer and a careful tester found in the interactions service (issue 19): null
for a field that cannot be empty (a 500 for ``{"topic": null}``), control characters in
names and texts, and years like 0001 or 9999."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from crm_interactions.interactions.schemas import InteractionCreate, InteractionUpdate
from crm_interactions.portal.schemas import PortalMessage
from crm_interactions.procedures.schemas import (
    ProcedureComplete,
    ProcedureCreate,
    ProcedureUpdate,
)

INTERACTION = {"contact_id": "c", "topic": "Frage", "kind": "incoming", "text": "Wann?"}
PROCEDURE = {
    "contact_id": "c",
    "type": "call",
    "direction": "outgoing",
    "state": "planned",
    "starts_at": "2026-12-07T09:00:00+01:00",
    "duration_minutes": 15,
    "reminder": True,
    "subject": "Rückruf",
}


def refused(model: type[BaseModel], body: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return [(".".join(map(str, e["loc"])), e["type"]) for e in caught.value.errors()]


@pytest.mark.parametrize(
    ("model", "name"),
    [
        (InteractionUpdate, "topic"),
        (InteractionUpdate, "text"),
        (InteractionUpdate, "occurred_at"),
        (ProcedureUpdate, "type"),
        (ProcedureUpdate, "direction"),
        (ProcedureUpdate, "starts_at"),
        (ProcedureUpdate, "reminder"),
        (ProcedureUpdate, "subject"),
    ],
)
def test_null_for_a_field_that_cannot_be_empty_is_a_422_naming_it(
    model: type[BaseModel], name: str
) -> None:
    assert refused(model, {name: None}) == [(name, "not_null")]


def test_null_clears_what_may_be_empty() -> None:
    cleared = InteractionUpdate.model_validate(
        {"follow_up_on": None, "contact_name": None, "reference": None}
    )
    assert set(cleared.model_dump(exclude_unset=True).values()) == {None}
    assert ProcedureUpdate.model_validate({"description": None, "campaign_id": None})


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (InteractionCreate, {**INTERACTION, "topic": "Fra\x00ge"}, "topic"),
        (InteractionCreate, {**INTERACTION, "topic": "Frage\nzwei"}, "topic"),
        (InteractionCreate, {**INTERACTION, "text": "Wann\x1b[31m?"}, "text"),
        (InteractionCreate, {**INTERACTION, "contact_name": "A\x7f"}, "contact_name"),
        (InteractionUpdate, {"salesperson": "B\x00"}, "salesperson"),
        (ProcedureCreate, {**PROCEDURE, "subject": "R\x00"}, "subject"),
        (ProcedureCreate, {**PROCEDURE, "description": "a\x0cb"}, "description"),
        (ProcedureComplete, {"outcome": "done", "note": "\x00"}, "note"),
        (PortalMessage, {"topic": "T\x00", "text": "x"}, "topic"),
        (PortalMessage, {"topic": "T", "text": "x\x00"}, "text"),
    ],
)
def test_control_characters_are_refused(
    model: type[BaseModel], body: dict[str, Any], field: str
) -> None:
    assert refused(model, body) == [(field, "string_pattern_mismatch")]


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (InteractionCreate, {**INTERACTION, "occurred_at": "0001-01-01T00:00:00Z"}, "occurred_at"),
        (InteractionCreate, {**INTERACTION, "follow_up_on": "9999-12-31"}, "follow_up_on"),
        (InteractionUpdate, {"occurred_at": "9999-12-31T23:59:59+00:00"}, "occurred_at"),
        (InteractionUpdate, {"follow_up_on": "1899-12-31"}, "follow_up_on"),
        (ProcedureCreate, {**PROCEDURE, "starts_at": "2200-01-01T00:00:00Z"}, "starts_at"),
        (ProcedureUpdate, {"starts_at": "0001-01-01T00:00:00Z"}, "starts_at"),
        (ProcedureComplete, {"outcome": "done", "starts_at": "9999-01-01T00:00:00Z"}, "starts_at"),
    ],
)
def test_dates_lie_between_1900_and_2199(
    model: type[BaseModel], body: dict[str, Any], field: str
) -> None:
    assert [f for f, _ in refused(model, body)] == [field]


def test_what_people_write_is_kept() -> None:
    body = {**INTERACTION, "text": "Grüße\r\n\tJörg 👍", "occurred_at": "2199-12-31T22:00:00Z"}
    assert InteractionCreate.model_validate(body).text == "Grüße\r\n\tJörg 👍"
