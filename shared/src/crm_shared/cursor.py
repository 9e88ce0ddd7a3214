"""Opaque keyset cursors: the sort key of the last row of a page, base64-encoded JSON.

Every paged list of every service uses these two functions, so a cursor is opaque to
clients and a bad one is the same 422 (``cursor``) everywhere.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date, datetime
from typing import Any, TypeVar, overload

from crm_shared.errors import Unprocessable

A = TypeVar("A", str, int, datetime)
B = TypeVar("B", str, int, datetime)


def encode(*key: Any) -> str:
    """An opaque cursor for the sort key of the last row of a page (moments as ISO 8601)."""
    raw = json.dumps(list(key), default=_plain, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _plain(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def decode(cursor: str, size: int) -> list[Any]:
    """The sort key of a cursor (``size`` parts, as JSON gives them); a 422 naming
    ``cursor`` when invalid."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise Unprocessable("cursor", "invalid cursor") from exc
    if not isinstance(key, list) or len(key) != size:
        raise Unprocessable("cursor", "invalid cursor")
    return key


@overload
def keyset(cursor: str | None, first: type[A], /) -> tuple[A] | None: ...
@overload
def keyset(cursor: str | None, first: type[A], second: type[B], /) -> tuple[A, B] | None: ...
def keyset(cursor: str | None, *types: type[Any]) -> tuple[Any, ...] | None:
    """The sort key of ``cursor`` as the given types (``str``, ``int``, or ``datetime``:
    an aware ISO 8601 moment), None without a cursor; a 422 naming ``cursor`` when it
    is not one of this shape."""
    if not cursor:
        return None
    parts = decode(cursor, len(types))
    try:
        return tuple(_as(kind, part) for kind, part in zip(types, parts, strict=True))
    except (TypeError, ValueError) as exc:
        raise Unprocessable("cursor", "invalid cursor") from exc


def _as(kind: type[Any], part: Any) -> Any:
    if kind is datetime:
        moment = datetime.fromisoformat(part)
        if moment.tzinfo is None:
            raise ValueError("a cursor's moment carries its offset")
        return moment
    if kind is int:
        if isinstance(part, bool) or not isinstance(part, int):
            raise TypeError("not a whole number")
        return part
    if not isinstance(part, str):
        raise TypeError("not a text")
    return part
