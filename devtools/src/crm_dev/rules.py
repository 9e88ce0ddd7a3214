"""The fast lane (``make test-fast``): a service's rules tested on SQLite, with no server.

A test gets a fresh database with the service's migrations (a copy of one migrated once
per session, so a test pays a file copy, not a migration run) and reads the events its
services queued from the outbox table itself: the outbox is the service's own, only the
relay to Kafka is left out. Everything that needs Kafka, Redis, PostgreSQL or SMTP stays
in the real-server suite.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa

from crm_shared.consumer import Delivery, EventConsumer
from crm_shared.db import Database, table_of
from crm_shared.events import CloudEvent, parse_cloudevent
from crm_shared.migrations import upgrade
from crm_shared.outbox import OutboxMessage


class RulesDatabases:
    """Fresh migrated SQLite databases, each a copy of a template migrated once."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._templates: dict[Path, Path] = {}
        self._count = 0

    async def fresh(self, migrations_dir: Path) -> Database:
        template = self._templates.get(migrations_dir)
        if template is None:
            template = self._directory / f"template-{len(self._templates)}.db"
            db = Database(f"sqlite+aiosqlite:///{template}")
            try:
                await upgrade(db, migrations_dir)
            finally:
                await db.dispose()
            self._templates[migrations_dir] = template
        self._count += 1
        copy = self._directory / f"rules-{self._count}.db"
        shutil.copyfile(template, copy)
        return Database(f"sqlite+aiosqlite:///{copy}")


async def emitted(db: Database, *names: str) -> list[CloudEvent]:
    """The events the service's outbox holds, oldest first (only those named, if any)."""
    async with db.sessionmaker() as session:
        outbox = table_of(OutboxMessage)
        bodies = await session.scalars(sa.select(outbox.c.body).order_by(outbox.c.seq))
        events = [parse_cloudevent(body) for body in bodies]
    return [e for e in events if not names or e.name in names]


async def deliver(db: Database, consumers: Sequence[EventConsumer], event: CloudEvent) -> None:
    """Hand ``event`` to the handler each of ``consumers`` (a service's, as
    ``handlers.consumers(deps)`` builds them) has for it on its topic, in a unit of work
    of its own: the wiring of the handlers, without Kafka and without deduplication."""
    topic = event.payload().kafka_topic.value
    for consumer in consumers:
        handler = consumer.handler_of(event.type) if consumer.topic == topic else None
        if handler is None:
            continue
        async with db.unit_of_work() as session:
            await handler(Delivery(event=event, payload=event.payload(), session=session))
