"""Consumer lag per group: how far each group's committed offsets are behind the end of
each partition it reads (``crm lag``; the tests wait for groups to catch up with it), and
whether a service's own group has caught up on some partitions (:class:`CaughtUp`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from crm_shared.kafka_auth import kafka_client_options

log = logging.getLogger(__name__)


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


class CaughtUp:
    """Whether a consumer group has processed everything on some partitions, asked of
    Kafka by a service about its own groups (:func:`crm_shared.copies.wait_for_copy`
    asks it before it calls a row that is not in a copy missing, instead of waiting its
    whole time for a row that may never come).

    The consumers commit their offsets after each processed batch, so a group whose
    committed offsets reach the partitions' ends has processed every event published
    before the question. Its clients connect on the first question and stay open; any
    failure (Kafka away) answers ``False``: the caller then waits as it would without."""

    TIMEOUT_SECONDS = 1.0

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self._admin: AIOKafkaAdminClient | None = None
        self._reader: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()

    async def __call__(self, group: str, partitions: Sequence[TopicPartition]) -> bool:
        try:
            async with asyncio.timeout(self.TIMEOUT_SECONDS):
                admin, reader = await self._clients()
                wanted = list(partitions)
                offsets = await admin.list_consumer_group_offsets(group, partitions=wanted)
                ends = await reader.end_offsets(wanted)
        except Exception as exc:  # Kafka away or slow: not known to be caught up
            log.debug("no answer whether %s caught up: %r", group, exc)
            return False
        for tp in partitions:
            meta = offsets.get(tp)
            committed = meta.offset if meta is not None and meta.offset >= 0 else 0
            if committed < ends[tp]:
                return False
        return True

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        async with self._lock:
            if self._admin is None or self._reader is None:
                options = kafka_client_options()
                admin = AIOKafkaAdminClient(
                    bootstrap_servers=self._bootstrap, client_id="crm-caught-up", **options
                )
                reader = AIOKafkaConsumer(
                    bootstrap_servers=self._bootstrap, client_id="crm-caught-up", **options
                )
                await admin.start()
                await reader.start()
                self._admin, self._reader = admin, reader
            return self._admin, self._reader

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.stop()
        if self._admin is not None:
            await self._admin.close()
        self._admin = self._reader = None
