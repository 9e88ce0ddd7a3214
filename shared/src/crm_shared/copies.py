"""Local copies of another service's records, kept from its events in bulk.

Every service that reacts to contacts keeps a copy of the fields it needs, and keeps the
*newest* one: events may repeat or arrive late, so a copy takes a snapshot only when the
snapshot's version is newer. Applied one event at a time that is a read and a write per
event through the ORM, about a millisecond of CPU each; a CSV import puts 100,000
``ContactCreated`` on ``crm.contacts`` and four services copy them. :func:`keep_newest`
applies a whole run of snapshots as one upsert, with the same outcome as applying them
one by one.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.db import is_postgres, unnest_insert


def newest_rows(
    rows: Sequence[Mapping[str, Any]], *, key: str, version: str, replace_equal: bool
) -> list[Mapping[str, Any]]:
    """Per key, the row that applying ``rows`` one by one would leave: the highest
    version; among equal versions the first, or the last with ``replace_equal``."""
    best: dict[Any, Mapping[str, Any]] = {}
    for row in rows:
        old = best.get(row[key])
        if (
            old is None
            or row[version] > old[version]
            or (replace_equal and row[version] == old[version])
        ):
            best[row[key]] = row
    return list(best.values())


async def keep_newest(
    session: AsyncSession,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: str = "contact_id",
    version: str = "version",
    replace_equal: bool = False,
    tombstone: tuple[str, Any] | None = None,
) -> None:
    """Insert each row, or update the stored one if the row's version is newer (or equal,
    with ``replace_equal``) and the stored row is not a ``tombstone`` (``(column,
    value)``: a stored row with that value stays as it is).

    ``rows`` must all have the same columns, every column the copy keeps. One statement:
    ``INSERT … SELECT FROM unnest(…) ON CONFLICT … DO UPDATE … WHERE`` on PostgreSQL
    (:func:`crm_shared.db.unnest_insert`), an executemany of the same upsert on SQLite.
    It bypasses the session's objects: a caller that loaded copies through the
    ORM expires them afterwards (:class:`crm_shared.consumer.Bulk` does).
    """
    newest = newest_rows(rows, key=key, version=version, replace_equal=replace_equal)
    if not newest:
        return
    names = tuple(newest[0])
    postgres = is_postgres(session)
    stmt = _upsert(table, names, key, version, replace_equal, tombstone, postgres)
    if postgres:  # one statement for the run, a list of values per column
        await session.execute(stmt, {name: [row[name] for row in newest] for name in names})
    else:
        await session.execute(stmt, [dict(row) for row in newest])


@functools.lru_cache(maxsize=64)
def _upsert(
    table: sa.Table,
    names: tuple[str, ...],
    key: str,
    version: str,
    replace_equal: bool,
    tombstone: tuple[str, Any] | None,
    postgres: bool,
) -> sa.Insert:
    """The statement of :func:`keep_newest`, built once per copy table and shape."""
    stmt = unnest_insert(table, names) if postgres else sqlite.insert(table)
    stored, incoming = table.c[version], stmt.excluded[version]
    newer = stored <= incoming if replace_equal else stored < incoming
    if tombstone is not None:
        column, value = tombstone
        newer = sa.and_(newer, table.c[column] != value)
    return stmt.on_conflict_do_update(
        index_elements=[table.c[key]],
        set_={name: stmt.excluded[name] for name in names if name != key},
        where=newer,
    )
