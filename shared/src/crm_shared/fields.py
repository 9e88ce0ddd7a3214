"""The types of what people enter, for every service's request models: text without
control characters, dates and moments within the years 1900-2199, and the fields of a
partial change (PATCH) that may be left out but not set to null.

- :data:`PlainText`: one line (names, topics, titles, numbers): no character of Unicode
  category Cc (U+0000-U+001F, U+007F-U+009F: NUL, tab, newline, escape, ...) and no line
  or paragraph separator (U+2028, U+2029).
- :data:`Text`: free text (an interaction's text, a description): as ``PlainText`` but tab,
  newline and carriage return are allowed.
- :data:`Day` / :data:`Moment`: a date / an aware datetime from 1900-01-01 to 2199-12-31
  (the years 0001 and 9999 are typing errors, and arithmetic near them overflows).
- :data:`Count`: a whole number 0 to 2^31-1, what an ``INTEGER`` column holds (users,
  employees): a larger one is a 422, not an overflow in the database.
- :data:`NotNull`: ``NotNull[T]`` in a PATCH body: left out, the field is unchanged; sent,
  it must be a ``T``; ``null`` is refused with a 422 naming the field (only fields that
  may really be empty are ``T | None``).

They are ``Annotated`` types pydantic checks in its core (a regular expression for text),
so they cost next to nothing, combine with ``Field(max_length=...)`` and show in the
OpenAPI document (``pattern``, ``minimum``)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar

from pydantic import AwareDatetime, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

PLAIN_TEXT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"
"""One line without control characters (the ``pattern`` of :data:`PlainText`)."""
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
"""Free text: tab, newline and carriage return, but no other control character."""

PlainText = Annotated[str, Field(pattern=PLAIN_TEXT_PATTERN)]
"""A line of text a person typed: no control character, no line break (see above)."""
Text = Annotated[str, Field(pattern=TEXT_PATTERN)]
"""Free text a person typed: lines, tabs, but no other control character."""

FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2199, 12, 31)
Day = Annotated[date, Field(ge=FIRST_DAY, le=LAST_DAY)]
"""A date from 1900-01-01 to 2199-12-31."""
Moment = Annotated[
    AwareDatetime,
    Field(ge=datetime(1900, 1, 1, tzinfo=UTC), lt=datetime(2200, 1, 1, tzinfo=UTC)),
]
"""A datetime with its UTC offset, from 1900-01-01 to 2199-12-31 (UTC)."""

COUNT_MAX = 2**31 - 1
Count = Annotated[int, Field(ge=0, le=COUNT_MAX)]
"""A number of people or things, as an ``INTEGER`` column holds it (0 to 2^31-1)."""

_MESSAGES = {
    PLAIN_TEXT_PATTERN: "must be one line without control characters",
    TEXT_PATTERN: "must not contain control characters (only tab and line breaks)",
}


def input_error(error: Any) -> tuple[str, str]:
    """``(type, message)`` of a pydantic error as the API reports it: pydantic's own,
    except for the text patterns above, whose regular expression would tell a person
    nothing (type ``control_character``)."""
    pattern = (error.get("ctx") or {}).get("pattern")
    if error.get("type") == "string_pattern_mismatch" and pattern in _MESSAGES:
        return "control_character", _MESSAGES[pattern]
    return str(error.get("type", "")), str(error.get("msg", ""))


_T = TypeVar("_T")


class _RefuseNull:
    """Refuses an explicit ``null``; a field left out keeps its default (pydantic does
    not validate defaults), and the OpenAPI document shows the field without ``null``."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_before_validator_function(_refuse_null, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        branches = [b for b in json_schema.get("anyOf", ()) if b != {"type": "null"}]
        if len(branches) == 1:
            rest = {k: v for k, v in json_schema.items() if k != "anyOf"}
            return {**branches[0], **rest}
        return json_schema


def _refuse_null(value: Any) -> Any:
    if value is None:
        raise PydanticCustomError("not_null", "may be left out, but not null")
    return value


NotNull = Annotated[_T | None, _RefuseNull()]
"""``NotNull[T]``: a field of a partial change (default ``None`` = unchanged) that, when
sent, must be a ``T``, never ``null``."""
