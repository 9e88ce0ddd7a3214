"""Opaque keyset cursors: the sort key of the last row, base64-encoded JSON."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from crm_shared.errors import Unprocessable


def encode(*key: Any) -> str:
    """An opaque cursor for the sort key of the last row of a page."""
    raw = json.dumps(list(key), default=str, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, size: int) -> list[Any]:
    """The sort key of a cursor (``size`` parts); a 422 naming ``cursor`` when invalid."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise Unprocessable("cursor", "invalid cursor") from exc
    if not isinstance(key, list) or len(key) != size:
        raise Unprocessable("cursor", "invalid cursor")
    return key
