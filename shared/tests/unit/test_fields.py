"""The shared types of what people enter (``crm_shared.fields``) and the CSV every export
writes (``crm_shared.csv_export``)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crm_shared.csv_export import csv_line, csv_text, escape_formula, unescape_cell
from crm_shared.fields import Day, Moment, NotNull, PlainText, Text, input_error


class Entry(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    title: PlainText = Field(max_length=10)
    note: Text | None = Field(default=None, max_length=20)
    day: Day | None = None
    at: Moment | None = None


class Change(BaseModel):
    title: NotNull[PlainText] = Field(default=None, min_length=1, max_length=10)
    note: Text | None = None
    count: NotNull[int] = Field(default=None, ge=0)


def refused(model: type[BaseModel], **data: Any) -> list[tuple[str, str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return [(".".join(map(str, e["loc"])), *input_error(e)) for e in caught.value.errors()]


@pytest.mark.parametrize(
    "title", ["a\x00b", "a\tb", "a\nb", "a\rb", "a\x1bb", "a\x7fb", "a\x85b", "a\u2028b"]
)
def test_a_line_of_text_refuses_control_characters(title: str) -> None:
    assert refused(Entry, title=title) == [
        ("title", "control_character", "must be one line without control characters")
    ]


def test_free_text_has_lines_and_tabs_but_no_other_control_character() -> None:
    assert Entry(title="x", note="a\tb\r\n\u2028c").note == "a\tb\r\n\u2028c"
    for note in ("a\x00", "a\x0bb", "a\x9fb"):
        assert refused(Entry, title="x", note=note)[0][:2] == ("note", "control_character")


def test_text_keeps_what_people_write() -> None:
    kept = Entry(title=" Jörg 👍 ", note="Grüße\u00a0— «ok»\u200d")
    assert (kept.title, kept.note) == ("Jörg 👍", "Grüße\u00a0— «ok»\u200d")
    assert refused(Entry, title="x" * 11)[0][1] == "string_too_long"  # limits still apply


def test_dates_and_moments_lie_between_1900_and_2199() -> None:
    berlin = timezone(timedelta(hours=1))
    Entry(title="x", day=date(1900, 1, 1), at=datetime(2199, 12, 31, 23, 59, tzinfo=UTC))
    Entry(title="x", day=date(2199, 12, 31), at=datetime(1900, 1, 1, 1, 30, tzinfo=berlin))
    for day in ("0001-01-01", "1899-12-31", "2200-01-01", "9999-12-31"):
        assert refused(Entry, title="x", day=day)[0][0] == "day"
    for at in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2200-01-01T00:00:00+00:00"):
        assert refused(Entry, title="x", at=at)[0][0] == "at"
    assert refused(Entry, title="x", at="2026-01-01T10:00:00")[0][1] == "timezone_aware"


def test_null_for_a_field_that_cannot_be_empty_is_refused_naming_it() -> None:
    assert refused(Change, title=None) == [("title", "not_null", "may be left out, but not null")]
    assert refused(Change, count=None)[0][:2] == ("count", "not_null")
    assert Change().model_fields_set == set()
    assert Change(note=None).model_dump(exclude_unset=True) == {"note": None}
    assert refused(Change, title="")[0][1] == "string_too_short"
    assert refused(Change, count=-1)[0][1] == "greater_than_equal"


def test_the_openapi_schema_shows_no_null_where_it_is_refused() -> None:
    properties = Change.model_json_schema()["properties"]
    assert properties["title"]["type"] == "string"
    assert properties["title"]["maxLength"] == 10
    assert "anyOf" not in properties["title"]
    assert {"type": "null"} in properties["note"]["anyOf"]
    assert Entry.model_json_schema()["properties"]["title"]["pattern"].startswith("^[^")


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_a_spreadsheet_would_run_is_escaped(start: str) -> None:
    value = f'{start}HYPERLINK("http://evil.example","x")'
    assert escape_formula(value) == "'" + value
    assert unescape_cell(escape_formula(value)) == value
    [[cell]] = list(csv.reader(io.StringIO(csv_line([value]))))
    assert cell == "'" + value


def test_other_cells_stay_as_they_are() -> None:
    for value in ("", "Anna", "'quoted", "12", "-5", "+3.50", "1=1", " =x", "O'Brien"):
        assert escape_formula(value) == value
        assert unescape_cell(value) == value
    assert csv_text([["id", 7, None], ["=1", -5, "a,b"]]) == 'id,7,\r\n\'=1,-5,"a,b"\r\n'
