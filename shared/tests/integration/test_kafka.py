"""The shared producer on the real Kafka: batched ``send_many``."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from crm_shared.kafka import MAX_BATCH_BYTES, EventProducer, cloudevent_headers, ensure_topics


async def test_send_many_keeps_each_keys_partition_and_order_across_full_batches(
    kafka_bootstrap: str, producer: EventProducer, collect: Any
) -> None:
    topic = f"crm.test.{uuid.uuid4().hex[:12]}"
    await ensure_topics(kafka_bootstrap, [topic], partitions=3)
    keys = [str(uuid.uuid4()).encode() for _ in range(40)]
    # First one record per key the plain way (aiokafka's send picks the partition) ...
    for key in keys:
        await producer.send(topic, b"first", key=key, headers=cloudevent_headers())
    # ... then more than several full record batches per partition in one call.
    filler = b"x" * 1000
    per_key = 6 * MAX_BATCH_BYTES // (len(filler) * len(keys)) + 1
    records = [
        (topic, key, b"%d:" % n + filler, cloudevent_headers())
        for n in range(per_key)
        for key in keys
    ]
    await producer.send_many(records)

    found = await collect(topic, lambda r: True, count=len(keys) + len(records), timeout=30)
    assert len(found) == len(keys) + len(records)
    partitions: dict[bytes, set[int]] = defaultdict(set)
    values: dict[bytes, list[bytes]] = defaultdict(list)
    for record in sorted(found, key=lambda r: (r.partition, r.offset)):
        partitions[record.key].add(record.partition)
        values[record.key].append(record.value.split(b":")[0])
    assert all(len(p) == 1 for p in partitions.values()), "a key's records share a partition"
    assert len({next(iter(p)) for p in partitions.values()}) > 1, "keys are spread"
    expected = [b"first", *(b"%d" % n for n in range(per_key))]
    assert all(v == expected for v in values.values()), "each key's records in order"
    assert all(dict(r.headers) == dict(cloudevent_headers()) for r in found)
