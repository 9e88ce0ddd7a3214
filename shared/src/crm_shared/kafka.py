"""Kafka plumbing shared by the services: the producer, topic provisioning, brokers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker

from crm_shared.events import CLOUDEVENTS_CONTENT_TYPE, CloudEvent, all_topics

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]


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
            request_timeout_ms=30000,
        )

    async def start(self) -> None:
        """Connect (retrying until Kafka answers)."""
        await self._producer.start()

    async def stop(self) -> None:
        """Flush and close."""
        await self._producer.stop()

    async def send_many(self, records: Sequence[tuple[str, bytes | None, bytes, Headers]]) -> None:
        """Send records in order (pipelined) and wait until all are acknowledged."""
        futures = [
            await self._producer.send(topic, value=value, key=key, headers=headers)
            for topic, key, value, headers in records
        ]
        await asyncio.gather(*futures)

    async def send(self, topic: str, value: bytes, *, key: bytes | None, headers: Headers) -> None:
        """Send one record and wait for its acknowledgement."""
        await self.send_many([(topic, key, value, headers)])

    async def ping(self) -> None:
        """Raise unless Kafka answers a metadata request."""
        await asyncio.wait_for(self._producer.client.fetch_all_metadata(), 5)

    async def publish(self, topic: str, event: CloudEvent) -> None:
        """Publish one CloudEvent directly (for services without an outbox)."""
        await self.send(topic, event.to_bytes(), key=event.key, headers=cloudevent_headers())


def create_broker(bootstrap: str, *, client_id: str) -> KafkaBroker:
    """A FastStream broker for the service's subscribers (logs through our logging)."""
    return KafkaBroker(
        bootstrap,
        client_id=client_id,
        logger=logging.getLogger(f"faststream.{client_id}"),
        log_level=logging.DEBUG,
    )


async def ensure_topics(
    bootstrap: str,
    topics: Iterable[str] | None = None,
    *,
    partitions: int = 3,
    replication_factor: int = 1,
) -> None:
    """Create the CRM topics if missing (dev and tests; Strimzi does it in Kubernetes)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="crm-provisioner")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in (topics or all_topics()) if t not in existing]
        if not wanted:
            return
        new = [
            NewTopic(t, num_partitions=partitions, replication_factor=replication_factor)
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
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), 5)
        await asyncio.wait_for(admin.list_topics(), 5)
        return True
    except Exception:
        return False
    finally:
        await admin.close()
