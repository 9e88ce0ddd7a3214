"""Replay dead letters: ``python -m crm_shared.dlq replay crm.interactions.dlq [--dry-run]``.

Each dead letter goes back to the topic it came from (its ``crm-dlq-topic`` header, else
the name without ``.dlq``) with its original key, value and headers, minus the
``crm-dlq-*`` headers the consumer added. The tool reads in its own consumer group
(``crm-dlq-replay``) and commits after every republished record, so an interrupted
replay resumes where it stopped and nothing is republished twice by the tool itself (and
consumers deduplicate by event id anyway). It stops when it has caught up with the end of
the topic as it was at start. ``--dry-run`` lists the dead letters without sending or
committing anything.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from crm_shared.kafka import EventProducer
from crm_shared.kafka_auth import kafka_client_options

DLQ_HEADER_PREFIX = "crm-dlq-"
GROUP = "crm-dlq-replay"


@dataclass(frozen=True)
class Replayed:
    partition: int
    offset: int
    target: str
    reason: str
    error: str


async def topic_partitions(bootstrap: str, topic: str) -> list[int]:
    """The partition numbers of ``topic`` (empty when it does not exist)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="crm-dlq-replay", **kafka_client_options()
    )
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if not described or described[0].get("error_code"):
        return []
    return sorted(int(p["partition"]) for p in described[0].get("partitions", []))


def original_topic(dlq_topic: str, headers: dict[str, bytes]) -> str:
    """Where a dead letter came from."""
    if headers.get("crm-dlq-topic"):
        return headers["crm-dlq-topic"].decode()
    return dlq_topic.removesuffix(".dlq")


async def replay(
    bootstrap: str,
    dlq_topic: str,
    *,
    dry_run: bool = False,
    group_id: str = GROUP,
    out: TextIO = sys.stdout,
) -> list[Replayed]:
    """Republish every dead letter not yet replayed; returns what was (or would be) sent."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None if dry_run else group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **kafka_client_options(),
    )
    producer = None if dry_run else EventProducer(bootstrap, client_id="crm-dlq-replay")
    await consumer.start()
    if producer is not None:
        await producer.start()
    done: list[Replayed] = []
    try:
        partitions = [
            TopicPartition(dlq_topic, p) for p in await topic_partitions(bootstrap, dlq_topic)
        ]
        if not partitions:
            raise SystemExit(f"topic {dlq_topic} does not exist")
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            committed = None if dry_run else await consumer.committed(tp)
            if committed is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
        remaining = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        break
                    done.append(await _one(record, dlq_topic, producer, out))
                    if producer is not None:
                        await consumer.commit({tp: record.offset + 1})
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
        if producer is not None:
            await producer.stop()
    verb = "would replay" if dry_run else "replayed"
    print(f"{verb} {len(done)} dead letter(s) from {dlq_topic}", file=out)
    return done


async def _one(
    record: Any, dlq_topic: str, producer: EventProducer | None, out: TextIO
) -> Replayed:
    headers = {k: bytes(v) for k, v in (record.headers or [])}
    target = original_topic(dlq_topic, headers)
    item = Replayed(
        partition=record.partition,
        offset=record.offset,
        target=target,
        reason=headers.get("crm-dlq-reason", b"?").decode(errors="replace"),
        error=headers.get("crm-dlq-error", b"").decode(errors="replace")[:200],
    )
    kept = [(k, bytes(v)) for k, v in (record.headers or []) if not k.startswith(DLQ_HEADER_PREFIX)]
    if producer is not None:
        await producer.send(target, record.value or b"", key=record.key, headers=kept)
    print(
        f"{dlq_topic}@{item.partition}/{item.offset} -> {target} ({item.reason}): {item.error}",
        file=out,
    )
    return item


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m crm_shared.dlq", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("replay", help="republish a dead-letter topic to its original topics")
    run.add_argument("topic", help="the dead-letter topic, e.g. crm.interactions.dlq")
    run.add_argument("--dry-run", action="store_true", help="list only; send and commit nothing")
    run.add_argument(
        "--bootstrap",
        default=os.environ.get("CRM_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
        help="Kafka bootstrap servers (default: CRM_KAFKA_BOOTSTRAP)",
    )
    run.add_argument("--group", default=GROUP, help="consumer group remembering progress")
    args = parser.parse_args(argv)
    if not args.topic.endswith(".dlq"):
        parser.error("the topic must be a dead-letter topic (<topic>.dlq)")
    asyncio.run(replay(args.bootstrap, args.topic, dry_run=args.dry_run, group_id=args.group))


if __name__ == "__main__":
    main()
