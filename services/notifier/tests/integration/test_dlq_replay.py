"""``python -m crm_notifier.replay <topic>.dlq``: dead letters go back to their topic with
their key, value and headers (minus crm-dlq-*), once; ``--dry-run`` only lists."""

from __future__ import annotations

import io
import uuid
from typing import Any

from aiokafka import AIOKafkaProducer

from crm_dev.stack import Stack
from crm_dev.testing import read_topic
from crm_shared.dlq import replay
from crm_shared.kafka import ensure_topics


async def test_replay_republishes_each_dead_letter_once(stack: Stack) -> None:
    bootstrap = stack.config.kafka_bootstrap
    topic = f"test-replay-{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [topic, f"{topic}.dlq"], partitions=2)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for i in range(3):
            await producer.send_and_wait(
                f"{topic}.dlq",
                f"value-{i}".encode(),
                key=f"key-{i}".encode(),
                headers=[
                    ("content-type", b"application/cloudevents+json"),
                    ("crm-dlq-reason", b"failed"),
                    ("crm-dlq-error", b"boom"),
                    ("crm-dlq-topic", topic.encode()),
                ],
            )
    finally:
        await producer.stop()

    listing = io.StringIO()
    dry = await replay(bootstrap, f"{topic}.dlq", dry_run=True, out=listing)
    assert len(dry) == 3 and "would replay 3" in listing.getvalue()
    assert await read_topic(bootstrap, topic, lambda r: True, timeout=1) is None

    group = f"replay-{uuid.uuid4().hex[:6]}"
    done = await replay(bootstrap, f"{topic}.dlq", group_id=group, out=io.StringIO())
    assert {d.target for d in done} == {topic} and len(done) == 3
    seen: dict[bytes, Any] = {}

    def collect(record: Any) -> bool:
        seen[record.key] = record
        return len(seen) == 3

    assert await read_topic(bootstrap, topic, collect, timeout=10) is not None
    for i in range(3):
        record = seen[f"key-{i}".encode()]
        assert record.value == f"value-{i}".encode()
        assert dict(record.headers) == {"content-type": b"application/cloudevents+json"}
    # progress is committed: a second run replays nothing
    again = await replay(bootstrap, f"{topic}.dlq", group_id=group, out=io.StringIO())
    assert again == []
