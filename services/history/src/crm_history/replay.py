"""Rebuild the CRM timeline from the topics: ``python -m crm_history.replay``.

Clears ``timeline_item`` and reads every timeline topic from the beginning with a fresh
consumer (no group, no committed offsets) up to the end offsets seen at start, adding
each event's item. Items are keyed by the event id, so running it twice, or while the
service runs, never adds an item twice. Contacts deleted since (tombstones in the local
contact copy) get no items back (GDPR).

Uses the service's settings: ``CRM_HISTORY_DATABASE_URL``, ``CRM_KAFKA_BOOTSTRAP``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from crm_history.main import MIGRATIONS
from crm_history.service import HistoryService
from crm_history.settings import Settings
from crm_history.timeline import TIMELINE_TOPICS
from crm_shared import migrations
from crm_shared.db import Database
from crm_shared.events import MalformedEventError, UnknownEventError, parse_cloudevent
from crm_shared.kafka_auth import kafka_client_options
from crm_shared.outbox import Outbox

log = logging.getLogger("crm_history.replay")


async def replay(settings: Settings, *, clear: bool = True, batch: int = 500) -> dict[str, int]:
    """Replay every timeline topic into the timeline; returns counts."""
    db = Database(settings.effective_database_url)
    outbox = Outbox(settings.source)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id="history-replay",
        **kafka_client_options(),
    )
    counts = {"read": 0, "skipped": 0}
    try:
        await migrations.upgrade(db, MIGRATIONS)
        if clear:
            async with db.unit_of_work() as session:
                await HistoryService(session, outbox).clear_timeline()
        await consumer.start()
        # the consumer's public partitions_for_topic() only knows topics it has seen
        cluster = await consumer._client.fetch_all_metadata()
        partitions = [
            TopicPartition(topic.value, p)
            for topic in TIMELINE_TOPICS
            for p in sorted(cluster.partitions_for_topic(topic.value) or ())
        ]
        if not partitions:
            return counts
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = {tp: o for tp, o in (await consumer.end_offsets(partitions)).items() if o > 0}
        while end:
            records = await consumer.getmany(*end.keys(), timeout_ms=500, max_records=batch)
            async with db.unit_of_work() as session:
                service = HistoryService(session, outbox)
                for tp, messages in records.items():
                    for message in messages:
                        if message.offset >= end.get(tp, 0):
                            continue
                        counts["read"] += 1
                        try:
                            event = parse_cloudevent(message.value or b"")
                            payload = event.payload()
                        except (MalformedEventError, UnknownEventError, ValidationError):
                            counts["skipped"] += 1  # the live consumer dead-lettered it
                            continue
                        await service.project(event, payload)
            for tp in list(end):
                if await consumer.position(tp) >= end[tp]:
                    del end[tp]
    finally:
        await consumer.stop()
        await db.dispose()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--keep", action="store_true", help="do not clear the timeline first (only add)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    started = time.monotonic()
    counts = asyncio.run(replay(Settings(), clear=not args.keep))
    if counts["read"] == 0:
        log.warning("no events found on %s", ", ".join(t.value for t in TIMELINE_TOPICS))
    print(
        f"replayed {counts['read']} events ({counts['skipped']} unreadable skipped) "
        f"in {time.monotonic() - started:.1f}s"
    )


if __name__ == "__main__":
    main()
