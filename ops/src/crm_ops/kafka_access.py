"""What each service reads and writes on Kafka, for the chart's ``KafkaUser`` ACLs.

Reads and consumer groups come from each service's own consumer wiring (its
``handlers.consumers``, built from its dependencies on a runtime that connects nowhere);
a consumer may dead-letter, so it writes the ``.dlq`` of every topic it reads. What a
service publishes is declared in :data:`PUBLISHES` (a test checks it against the event
classes each service's code constructs). The chart keeps the result in
``deploy/helm/crm/files/kafka-access.json``:

    uv run python -m crm_ops.kafka_access > deploy/helm/crm/files/kafka-access.json

and a test checks that the committed file is what this module computes.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from redis.asyncio import Redis

from crm_ops.catalog import SERVICES
from crm_shared.db import Database
from crm_shared.events import Topic, all_topics, dead_letter_topic
from crm_shared.kafka import EventProducer
from crm_shared.outbox import Outbox
from crm_shared.service import Runtime

PUBLISHES: dict[str, tuple[Topic, ...]] = {
    "contacts": (Topic.CONTACTS,),
    "history": (Topic.HISTORY, Topic.NOTIFICATIONS),  # mailings request their emails
    "interactions": (Topic.INTERACTIONS, Topic.PROCEDURES, Topic.NOTIFICATIONS),  # login links
    "campaigns": (Topic.CAMPAIGNS, Topic.OPPORTUNITIES),
    "reminders": (Topic.REMINDERS,),
    "notifier": (Topic.NOTIFICATIONS,),
    "gateway": (Topic.STAFF,),
}
"""The topics each service's events go to (through its outbox or, for the notifier's
EmailSent/EmailFailed, straight from the mailer)."""

OPS_USER = "ops"
OPS_GROUPS = ("crm-dlq-replay",)
"""The operator tools' own user: ``crm dlq replay`` reads any dead-letter topic in its
group and writes back to the original topic; ``crm lag`` describes every group; ``crm
timeline rebuild`` reads without a group."""


@dataclass(frozen=True)
class Access:
    """One Kafka principal's needs."""

    reads: tuple[str, ...]
    groups: tuple[str, ...]
    writes: tuple[str, ...]
    describes_groups: bool = False

    def as_json(self) -> dict[str, object]:
        return {
            "reads": list(self.reads),
            "groups": list(self.groups),
            "writes": list(self.writes),
            "describesGroups": self.describes_groups,
        }


async def _consumers_of(name: str) -> list[tuple[str, str]]:
    """(topic, group) of each consumer the service wires, built without connecting."""
    entry = SERVICES[name]
    if entry.deps is None or entry.consumers is None:
        return []
    settings = entry.settings()
    producer = EventProducer("127.0.0.1:1", client_id="access-probe")  # never started
    runtime = Runtime(
        settings=settings,
        producer=producer,
        outbox=Outbox(settings.source),
        db=Database("sqlite+aiosqlite://"),
        redis=Redis(),
    )
    try:
        return [(c.topic, c.group_id) for c in entry.consumers(entry.deps(runtime))]
    finally:
        await producer.stop()
        await runtime.database.dispose()
        await runtime.redis_client.aclose()


async def collect_access() -> dict[str, Access]:
    """Every service's Kafka access, by service name (and the ops tools' as ``ops``)."""
    consumed = {name: await _consumers_of(name) for name in SERVICES}
    access: dict[str, Access] = {}
    for name in SERVICES:
        reads = sorted({topic for topic, _ in consumed[name]})
        writes = {t.value for t in PUBLISHES[name]} | {dead_letter_topic(t) for t in reads}
        access[name] = Access(
            reads=tuple(reads),
            groups=tuple(sorted({group for _, group in consumed[name]})),
            writes=tuple(sorted(writes)),
        )
    topics = sorted(all_topics())
    access[OPS_USER] = Access(
        reads=tuple(topics),
        groups=OPS_GROUPS,
        writes=tuple(t for t in topics if not t.endswith(".dlq")),
        describes_groups=True,
    )
    return access


async def group_reads() -> dict[str, list[str]]:
    """The topics each consumer group of the services reads."""
    reads: dict[str, list[str]] = {}
    for name in SERVICES:
        for topic, group in await _consumers_of(name):
            reads.setdefault(group, []).append(topic)
    return reads


def service_access() -> dict[str, Access]:
    """:func:`collect_access` outside an event loop."""
    return asyncio.run(collect_access())


def render() -> str:
    """The chart's ``deploy/helm/crm/files/kafka-access.json``."""
    document = {name: access.as_json() for name, access in service_access().items()}
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
