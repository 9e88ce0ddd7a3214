"""Async engines and sessions for SQLite (embedded default) and PostgreSQL.

Repositories and services add and flush, never commit. The transaction is committed at
the edge only: :meth:`Database.unit_of_work` (used by the HTTP dependency and by the
message-handler wrapper) commits, or rolls back on error. A transaction that wrote outbox
rows is stamped with the service's commit clock just before it commits
(:attr:`Database.commit_clock`), and after the commit the positions it wrote go to the
request's consistency token and the outbox relay is woken.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlmodel import SQLModel

from crm_shared.consistency import Token, note_written

OUTBOX_DIRTY = "crm_outbox_dirty"
POSITIONS = "crm_positions"
"""``session.info`` key: the positions a committed transaction wrote (a Token)."""


def is_postgres(session: AsyncSession) -> bool:
    """Whether the session talks to PostgreSQL (else SQLite, the embedded default)."""
    return session.get_bind().dialect.name == "postgresql"


def dialect_insert(session: AsyncSession, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """``INSERT`` with the dialect's ``ON CONFLICT`` clauses (PostgreSQL's or SQLite's)."""
    return postgresql.insert(table) if is_postgres(session) else sqlite.insert(table)


@functools.cache
def unnest_insert(
    table: sa.Table, names: tuple[str, ...], shared: tuple[str, ...] = ()
) -> postgresql.Insert:
    """PostgreSQL ``INSERT … SELECT FROM unnest(<one array parameter per column>)``: many
    rows in one statement. Execute it with ``{name: [value, …]}`` for each of ``names``
    and ``{name: value}`` for each of ``shared``, the columns every row has the same
    value in (plain parameters).

    An executemany sends, plans and runs a statement per row. For runs of 200 contact
    copies this statement took 0.55 s of PostgreSQL's CPU per 40,000 rows where the
    executemany took 0.94 (same upsert, a /tmp micro-benchmark), and consumers write
    such runs for every row of an import. Built once per table and columns: building it
    took about a millisecond, as much as a consumer's parsing of 100 events.
    """
    arrays = [sa.bindparam(name, type_=postgresql.ARRAY(table.c[name].type)) for name in names]
    source = sa.func.unnest(*arrays).table_valued(*names).render_derived()
    same = [
        sa.cast(sa.bindparam(name, type_=table.c[name].type), table.c[name].type) for name in shared
    ]
    return postgresql.insert(table).from_select([*names, *shared], sa.select(*source.c, *same))


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A moment, timezone-aware UTC on both databases: SQLite keeps no offset, so values
    are converted to UTC before they are stored and read back as UTC (PostgreSQL's
    ``timestamptz`` does this itself). A naive value is taken as UTC, as PostgreSQL's
    driver takes it."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def moment_column(*, nullable: bool = False, index: bool = False) -> Any:
    """A column of :class:`UtcDateTime` (for ``Field(sa_column=...)``)."""
    return sa.Column(UtcDateTime(), nullable=nullable, index=index)


def table_of(model: type[SQLModel]) -> sa.Table:
    """The Core table of a table model (for set-based statements)."""
    table: sa.Table = model.__table__  # type: ignore[attr-defined]
    return table


# Set before any table class is defined: constraint names are fixed when they attach.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION


def is_sqlite(url: str) -> bool:
    """Whether a database URL points at SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine with the settings each backend needs."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    # No ping before each checkout (a round trip per unit of work): a connection that died
    # (PostgreSQL restarted) fails its next statement once, as a transient error (503 for
    # a request, a retry for a consumer), and SQLAlchemy then renews the whole pool.
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size)


class Database:
    """An engine, its session factory and the hooks run after an outbox-writing commit."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=pool_size)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self.sqlite = is_sqlite(url)
        self._after_outbox_commit: list[Callable[[], None]] = []
        self.commit_clock: Callable[[AsyncSession], Awaitable[None]] | None = None
        """Stamps a transaction that wrote outbox rows, just before it commits, and
        leaves its positions in ``session.info[POSITIONS]`` (set by the outbox relay)."""

    async def stamp(self, session: AsyncSession) -> Token:
        """Stamp the transaction now instead of just before its commit, and return the
        positions it wrote, so the transaction can record them itself (a job keeps the
        token of its batches). Write no events after this."""
        if self.commit_clock is None or not session.info.get(OUTBOX_DIRTY):
            return Token()
        await self.commit_clock(session)
        positions: Token = session.info[POSITIONS]
        return positions

    def on_outbox_commit(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` after every commit that wrote outbox rows."""
        self._after_outbox_commit.append(hook)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on error."""
        async with self.sessionmaker() as session:
            try:
                yield session
                stamped = POSITIONS in session.info
                if self.commit_clock is not None and session.info.get(OUTBOX_DIRTY) and not stamped:
                    await self.commit_clock(session)
                await session.commit()
            except BaseException:
                session.info.pop(POSITIONS, None)
                await session.rollback()
                raise
            if session.info.pop(OUTBOX_DIRTY, False):
                note_written(session.info.get(POSITIONS) or {})
                for hook in self._after_outbox_commit:
                    hook()

    async def ping(self) -> None:
        """Raise unless the database answers."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
