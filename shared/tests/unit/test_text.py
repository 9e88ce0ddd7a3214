"""crm_shared.text: texts without control characters, as an API refuses them (422)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field, ValidationError

from crm_shared.errors import install_problem_handlers
from crm_shared.text import Line, Text, has_control_characters


class Person(BaseModel):
    name: Line = Field(min_length=1, max_length=20)
    initials: Line | None = None
    note: Text = ""


@pytest.mark.parametrize("bad", ["A\x00B", "A\tB", "A\nB", "A\rB", "\x1b[31m", "A\x7f", "A\x85"])
def test_a_line_refuses_control_characters(bad: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Person(name=bad)
    [error] = refused.value.errors()
    assert (error["loc"], error["type"]) == (("name",), "control_character")
    assert has_control_characters(bad)


@pytest.mark.parametrize("bad", ["A\x00B", "\x1b[31m", "A\x0bB", "A\x7f"])
def test_a_text_refuses_control_characters_but_line_breaks_and_tabs(bad: str) -> None:
    with pytest.raises(ValidationError):
        Person(name="x", note=bad)
    assert Person(name="x", note="eins\r\nzwei\tdrei").note == "eins\r\nzwei\tdrei"
    assert has_control_characters(bad, multiline=True)
    assert not has_control_characters("eins\r\nzwei\tdrei", multiline=True)


def test_lone_surrogates_are_refused_too() -> None:
    for bad in ("\ud800", "x\udfff"):
        with pytest.raises(ValidationError):  # pydantic's own string_unicode
            Person(name="x", note=bad)
        assert has_control_characters(bad) and has_control_characters(bad, multiline=True)


def test_ordinary_texts_pass_with_their_other_limits() -> None:
    person = Person(name="Jörg Müller ✓ 北京", initials=None, note="Grüße")
    assert person.name == "Jörg Müller ✓ 北京"
    with pytest.raises(ValidationError):
        Person(name="")
    with pytest.raises(ValidationError):
        Person(name="x", initials="A\x00")


async def test_an_api_answers_422_naming_the_field() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/people")
    async def create(person: Person) -> Person:
        return person

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        refused = await client.post("/people", json={"name": "Anna\u0000"})
        assert refused.status_code == 422
        [error] = refused.json()["errors"]
        assert (error["field"], error["type"]) == ("name", "control_character")
        assert "U+0000" in error["message"]
        assert (await client.post("/people", json={"name": "Anna"})).status_code == 200
