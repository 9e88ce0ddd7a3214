"""Kafka plumbing shared by the services: the producer, topic provisioning, brokers."""

from __future__ import annotations

import asyncio
import logging
import random
import struct
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import MessageSizeTooLargeError, TopicAlreadyExistsError
from faststream.kafka import KafkaBroker

from crm_shared.events import CLOUDEVENTS_CONTENT_TYPE, CloudEvent, all_topics
from crm_shared.kafka_auth import KafkaAuth, kafka_client_options

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]

# Bytes per record batch (one partition's share of a produce request). aiokafka's default
# of 16 KiB holds about 20 of our events, and with one batch in flight per partition
# (idempotent producer) that made a bulk of 100,000 events wait for ~1,500 broker round
# trips. Half a MiB stays under the broker's default message.max.bytes (1 MiB).
MAX_BATCH_BYTES = 512 * 1024


def cloudevent_headers() -> Headers:
    """Kafka headers of a structured-mode CloudEvent."""
    return [("content-type", CLOUDEVENTS_CONTENT_TYPE.encode())]


class EventProducer:
    """An idempotent ``acks=all`` producer; ``send`` returns once Kafka has the record."""

    def __init__(self, bootstrap: str, *, client_id: str) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            max_batch_size=MAX_BATCH_BYTES,
            request_timeout_ms=30000,
            **kafka_client_options(),
        )

    async def start(self) -> None:
        """Connect (retrying until Kafka answers)."""
        await self._producer.start()

    async def stop(self) -> None:
        """Flush and close."""
        await self._producer.stop()

    async def partitions(self, topic: str) -> list[int]:
        """The topic's partitions, sorted (from the client's metadata; fetched once)."""
        return sorted(await self._producer.partitions_for(topic))

    async def send_many(self, records: Sequence[tuple[str, bytes | None, bytes, Headers]]) -> None:
        """Send records in order and wait until all are acknowledged.

        Records go into one record batch per partition (a new one when it is full), on
        the partition ``send`` would choose for the key, so one key's records keep their
        order. This costs about half the CPU of a ``send`` per record, which matters for
        the outbox relay publishing a bulk job's 100,000 events.
        """
        futures: list[asyncio.Future[Any]] = []
        batches: dict[tuple[str, int], Any] = {}
        partitions: dict[str, list[int]] = {}
        for topic, key, value, headers in records:
            known = partitions.get(topic)
            if known is None:
                known = partitions[topic] = await self.partitions(topic)
            partition = partition_for(key, known)
            batch = batches.get((topic, partition))
            if batch is None:
                batch = batches[topic, partition] = self._producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                futures.append(await self._producer.send_batch(batch, topic, partition=partition))
                batch = batches[topic, partition] = self._producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                    raise MessageSizeTooLargeError(f"a record of {len(value)} bytes")
        for (topic, partition), batch in batches.items():
            futures.append(await self._producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*futures)

    async def send(self, topic: str, value: bytes, *, key: bytes | None, headers: Headers) -> None:
        """Send one record and wait for its acknowledgement."""
        await (await self._producer.send(topic, value=value, key=key, headers=headers))

    async def ping(self) -> None:
        """Raise unless Kafka answers a metadata request."""
        await asyncio.wait_for(self._producer.client.fetch_all_metadata(), 5)

    async def publish(self, topic: str, event: CloudEvent) -> None:
        """Publish one CloudEvent directly (for services without an outbox)."""
        await self.send(topic, event.to_bytes(), key=event.key, headers=cloudevent_headers())

    async def publish_many(self, events: Sequence[tuple[str, CloudEvent]]) -> None:
        """Publish CloudEvents directly, in order, as (topic, event) (:meth:`send_many`)."""
        headers = cloudevent_headers()
        await self.send_many(
            [(topic, event.key, event.to_bytes(), headers) for topic, event in events]
        )


def partition_for(key: bytes | None, partitions: Sequence[int]) -> int:
    """The partition aiokafka's (and the Java client's) default partitioner picks for
    ``key`` among the topic's ``partitions`` (sorted); a random one without a key."""
    if key is None:
        return random.choice(partitions)  # noqa: S311 - spreading load, not a secret
    return partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]


_M = 0x5BD1E995


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash, as ``aiokafka.partitioner.murmur2`` computes it (tested),
    reading the input as 32-bit words at once: about twice as fast, and the relay
    hashes the key of every record it publishes."""
    length = len(data)
    h = 0x9747B28C ^ length
    words = length // 4
    for word in struct.unpack_from(f"<{words}I", data):
        k = (word * _M) & 0xFFFFFFFF
        h = ((h * _M) ^ ((k ^ (k >> 24)) * _M)) & 0xFFFFFFFF
    tail = data[words * 4 :]
    if len(tail) >= 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h = ((h ^ tail[0]) * _M) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * _M) & 0xFFFFFFFF
    return h ^ (h >> 15)


def create_broker(bootstrap: str, *, client_id: str) -> KafkaBroker:
    """A FastStream broker for the service's subscribers (logs through our logging)."""
    return KafkaBroker(
        # a list: FastStream would take "a:9092,b:9092" for one host name
        [server.strip() for server in bootstrap.split(",") if server.strip()],
        client_id=client_id,
        security=KafkaAuth().faststream_security(),
        logger=logging.getLogger(f"faststream.{client_id}"),
        log_level=logging.DEBUG,
    )


async def ensure_topics(
    bootstrap: str,
    topics: Iterable[str] | None = None,
    *,
    partitions: int = 3,
    replication_factor: int = 1,
    topic_configs: dict[str, str] | None = None,
) -> None:
    """Create the CRM topics if missing (dev and tests; Strimzi does it in Kubernetes).

    ``topic_configs`` are per-topic settings, e.g. ``{"min.insync.replicas": "2"}``."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="crm-provisioner", **kafka_client_options()
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in (topics or all_topics()) if t not in existing]
        if not wanted:
            return
        new = [
            NewTopic(
                t,
                num_partitions=partitions,
                replication_factor=replication_factor,
                topic_configs=topic_configs or {},
            )
            for t in wanted
        ]
        try:
            await admin.create_topics(new)
        except TopicAlreadyExistsError:
            log.debug("topics created concurrently by another process")
    finally:
        await admin.close()


async def kafka_ready(bootstrap: str) -> bool:
    """Whether Kafka answers a metadata request."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=3000, **kafka_client_options()
    )
    try:
        await asyncio.wait_for(admin.start(), 5)
        await asyncio.wait_for(admin.list_topics(), 5)
        return True
    except Exception:
        return False
    finally:
        await admin.close()
