"""Alembic migrations per service, run at start (and by the tests to build schemas).

Each service keeps ``migrations/`` inside its package (so the wheel ships it) with an
``env.py`` that calls :func:`run_env`. :func:`upgrade` runs at start; on PostgreSQL an
advisory lock makes concurrent replicas migrate one at a time. In Kubernetes a Helm hook
Job migrates before the new pods start (``crm migrate``) and the services only
:func:`check` the revision (``CRM_MIGRATE_AT_START=false``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from crm_shared.db import Database

_MIGRATION_LOCK_KEY = 0x43524D4D4947  # "CRMMIG"


def alembic_config(migrations_dir: Path, url: str) -> Config:
    """An Alembic config for one service's migrations folder."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    return cfg


async def upgrade(db: Database, migrations_dir: Path) -> None:
    """Bring the database to the newest revision."""
    cfg = alembic_config(migrations_dir, db.url)

    def run(sync_conn: Connection) -> None:
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, "head")

    async with db.engine.begin() as conn:
        if not db.sqlite:
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
        await conn.run_sync(run)


class SchemaBehind(RuntimeError):
    """The database is at an older revision than this code needs."""


async def current_revisions(db: Database) -> set[str]:
    """The revisions the database is at (empty before the first migration)."""

    def read(sync_conn: Connection) -> set[str]:
        return set(MigrationContext.configure(sync_conn).get_current_heads())

    async with db.engine.connect() as conn:
        return await conn.run_sync(read)


def head_revisions(migrations_dir: Path) -> set[str]:
    """The newest revisions of this code's migrations."""
    return set(ScriptDirectory.from_config(alembic_config(migrations_dir, "")).get_heads())


async def check(db: Database, migrations_dir: Path) -> str:
    """Refuse to run against a schema older than the code; returns what was found.

    A database *newer* than the code (a revision this code does not know) is accepted:
    that is a rollback of the code after a release's migration Job ran, and the
    project's migrations keep the previous release working (they add, never drop or
    rename, within one release step).
    """
    current = await current_revisions(db)
    heads = head_revisions(migrations_dir)
    if current == heads:
        return "current"
    script = ScriptDirectory.from_config(alembic_config(migrations_dir, ""))
    known = {rev.revision for rev in script.walk_revisions()}
    if current and not current & known:
        return "newer"
    raise SchemaBehind(
        f"database at {sorted(current) or 'no revision'}, this code needs {sorted(heads)}: "
        "run the migrations first (`crm migrate`; in Kubernetes the chart's migration Job)"
    )


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's ``env.py``."""
    config = context.config

    def configure_and_run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    connection: Any = config.attributes.get("connection")
    if connection is not None:
        configure_and_run(connection)
        return

    async def from_cli() -> None:
        engine = create_async_engine(config.get_main_option("sqlalchemy.url") or "")
        async with engine.begin() as conn:
            await conn.run_sync(configure_and_run)
        await engine.dispose()

    asyncio.run(from_cli())


# --- steps every service's migrations take (frozen once released: change = new step) ---


def add_commit_clock_and_copy_positions() -> None:
    """The consistency token (2026-12): the outbox rows' commit clock and its counter,
    and the consumers' positions (``copy_position``). One step for every service, called
    from each service's own revision."""
    op.add_column("outbox_message", sa.Column("clock", sa.BigInteger(), nullable=True))
    op.create_index("ix_outbox_message_clock_seq", "outbox_message", ["clock", "seq"])
    unstamped = sa.text("clock IS NULL")
    op.create_index(
        "ix_outbox_message_unstamped",
        "outbox_message",
        ["seq"],
        postgresql_where=unstamped,
        sqlite_where=unstamped,
    )
    clock = op.create_table(
        "outbox_clock",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_clock")),
    )
    op.bulk_insert(clock, [{"id": 1, "value": 0}])
    op.create_table(
        "copy_position",
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("partition", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("clock", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "consumer", "owner", "topic", "partition", name=op.f("pk_copy_position")
        ),
    )


def drop_commit_clock_and_copy_positions() -> None:
    """Undoes :func:`add_commit_clock_and_copy_positions`."""
    op.drop_table("copy_position")
    op.drop_table("outbox_clock")
    op.drop_index("ix_outbox_message_unstamped", table_name="outbox_message")
    op.drop_index("ix_outbox_message_clock_seq", table_name="outbox_message")
    with op.batch_alter_table("outbox_message") as batch:
        batch.drop_column("clock")
