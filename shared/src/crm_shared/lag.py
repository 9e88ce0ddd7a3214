"""Consumer lag per group: how far each group's committed offsets are behind the end of
each partition it reads (``crm lag``; the tests wait for groups to catch up with it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from crm_shared.kafka_auth import kafka_client_options


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)


async def consumer_lag(
    bootstrap: str,
    groups: list[str] | None = None,
    *,
    reads: Mapping[str, Sequence[str]] | None = None,
) -> list[PartitionLag]:
    """Lag of every partition each group has committed offsets for (all groups, or
    ``groups``), sorted by group, topic and partition. ``reads`` names the topics each
    group reads (its groups are then the ones looked at): their partitions without a
    commit yet count from offset 0, as the consumers start from the earliest."""
    options = kafka_client_options()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="crm-lag", **options)
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, client_id="crm-lag", **options)
    await admin.start()
    await reader.start()
    try:
        if reads is not None:
            groups = sorted(reads)
        elif groups is None:
            groups = sorted(group for group, _ in await admin.list_consumer_groups())
        # the consumer's public partitions_for_topic() knows only topics it has seen
        cluster = await reader._client.fetch_all_metadata() if reads else None
        committed: dict[str, dict[TopicPartition, int]] = {}
        for group in groups:
            offsets = await admin.list_consumer_group_offsets(group)
            committed[group] = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
            for topic in (reads or {}).get(group, ()):
                for partition in (cluster.partitions_for_topic(topic) if cluster else None) or ():
                    committed[group].setdefault(TopicPartition(topic, partition), 0)
        partitions = sorted({tp for offsets in committed.values() for tp in offsets})
        ends = await reader.end_offsets(partitions) if partitions else {}
        return sorted(
            (
                PartitionLag(group, tp.topic, tp.partition, offset, ends[tp])
                for group, offsets in committed.items()
                for tp, offset in offsets.items()
            ),
            key=lambda item: (item.group, item.topic, item.partition),
        )
    finally:
        await reader.stop()
        await admin.close()


def total_by_group(lags: list[PartitionLag]) -> dict[str, int]:
    """The summed lag of each group."""
    totals: dict[str, int] = {}
    for item in lags:
        totals[item.group] = totals.get(item.group, 0) + item.lag
    return totals
