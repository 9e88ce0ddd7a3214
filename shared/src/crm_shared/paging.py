"""Page sizes of every list: one maximum, refused above it (422), never clamped.

A list route takes ``limit: Limit = 50`` and ``cursor: Cursor = None``; a ``limit``
above :data:`MAX_LIMIT`, below 1 or not a whole number is a 422 naming ``limit`` (the
validation problem every service renders), never silently cut to the maximum. The
service fetches ``limit + 1`` rows by its keyset and hands them to :func:`page_of`,
which keeps ``limit`` of them and makes the next cursor from the last one kept
(:mod:`crm_shared.cursor`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Query

from crm_shared import cursor as cursors

MAX_LIMIT = 500
"""The largest page any list answers; a larger ``limit`` is a 422."""

Limit = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"page size, 1 to {MAX_LIMIT} (above: 422)")
]
"""A list's ``limit`` query parameter: ``limit: Limit = 50``."""

Cursor = Annotated[
    str | None,
    Query(max_length=1000, description="``next_cursor`` of the page before; none: the first page"),
]
"""A list's ``cursor`` query parameter (opaque, from the page before)."""

T = TypeVar("T")


def page_of(
    rows: Sequence[T], limit: int, key: Callable[[T], Sequence[Any]]
) -> tuple[list[T], str | None]:
    """The first ``limit`` of ``rows`` (fetched as ``limit + 1``) and the cursor of the
    next page: the keyset ``key`` of the last row kept, or None when no row is left."""
    kept = list(rows[:limit])
    more = len(rows) > limit
    return kept, cursors.encode(*key(kept[-1])) if more and kept else None
