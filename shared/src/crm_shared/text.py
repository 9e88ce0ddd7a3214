"""Texts a person types, as API fields: without control characters.

A NUL stored in a name breaks PostgreSQL (it cannot hold one in ``text``: a 500), a
line break or escape sequence in a name breaks every list, CSV and mail header it ends
up in, and a lone surrogate (``"\\ud800"`` in JSON) cannot be encoded at all. So the
API refuses them with a 422 naming the field (error ``type`` ``control_character``):

- :data:`Line`: one line (a name, a subject, a username): no control character at all
  (C0, DEL, C1), no lone surrogate.
- :data:`Text`: several lines (a message, a description): tab, line feed and carriage
  return are allowed, every other control character is refused.

Both are ``str`` annotated with a validator; add length limits with ``Field``:
``name: Line = Field(min_length=1, max_length=200)``, ``initials: Line | None = None``.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

_IN_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _refuse(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        found = pattern.search(value)
        if found is not None:
            raise PydanticCustomError(
                "control_character",
                "{what} must not contain control characters (found U+{code} at {position})",
                {"what": what, "code": f"{ord(found.group()):04X}", "position": found.start()},
            )
        return value

    return AfterValidator(check)


Line = Annotated[str, _refuse(_IN_LINE, "a line")]
"""One line of text: no control character (C0 including tab and line breaks, DEL, C1),
no lone surrogate."""

Text = Annotated[str, _refuse(_IN_TEXT, "a text")]
"""Text of several lines: tab, line feed and carriage return allowed, no other control
character, no lone surrogate."""


def has_control_characters(value: str, *, multiline: bool = False) -> bool:
    """Whether ``value`` holds what :data:`Line` (or, ``multiline``, :data:`Text`) refuses:
    for checks outside a pydantic model (a query parameter, a CSV cell)."""
    return (_IN_TEXT if multiline else _IN_LINE).search(value) is not None
