"""What a fuzzer and a careful tester found in the history service (issue 19): null for a
field that cannot be empty answered without naming it, control characters in entries,
settings and mailings, years like 0001 or 9999, and offsets beyond any table."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from crm_history.schemas import EntryCreate, EntryUpdate, HistorySettingsBody, MailingRequest

MAILING = {"selection": {"group_id": "g"}}


def refused(model: type[BaseModel], body: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return [(".".join(map(str, e["loc"])), e["type"]) for e in caught.value.errors()]


@pytest.mark.parametrize("name", ["date", "field5", "field6"])
def test_null_for_a_field_of_an_entry_that_cannot_be_empty_names_it(name: str) -> None:
    assert refused(EntryUpdate, {name: None}) == [(name, "not_null")]


def test_null_clears_the_texts_of_an_entry() -> None:
    cleared = EntryUpdate.model_validate({"action": None, "text": None, "field1": None})
    assert cleared.model_dump(exclude_unset=True) == {"action": None, "text": None, "field1": None}


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (EntryCreate, {"action": "An\x00ruf"}, "action"),
        (EntryCreate, {"staff_initials": "E\x1bM"}, "staff_initials"),
        (EntryCreate, {"field1": "a\nb"}, "field1"),
        (EntryCreate, {"text": "a\x00b"}, "text"),
        (EntryUpdate, {"info": "\x7fx"}, "info"),
        (HistorySettingsBody, {"actions": ["Anruf\x00"]}, "actions.0"),
        (HistorySettingsBody, {"field_labels": {"field1": "F\x00"}}, "field_labels.field1"),
        (MailingRequest, {**MAILING, "subject": "S\x00", "body": "b"}, "subject"),
        (MailingRequest, {**MAILING, "subject": "S", "body": "b\x00"}, "body"),
    ],
)  # fmt: skip
def test_control_characters_are_refused(
    model: type[BaseModel], body: dict[str, Any], field: str
) -> None:
    assert refused(model, body) == [(field, "string_pattern_mismatch")]


@pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31", "2200-01-01", "9999-12-31"])
def test_entry_dates_lie_between_1900_and_2199(day: str) -> None:
    assert [f for f, _ in refused(EntryCreate, {"date": day})] == ["date"]
    assert [f for f, _ in refused(EntryUpdate, {"date": day})] == ["date"]


def test_what_people_write_is_kept() -> None:
    entry = EntryCreate.model_validate({"date": "2199-12-31", "text": "Grüße\r\n\tJörg"})
    assert entry.text == "Grüße\r\n\tJörg"
