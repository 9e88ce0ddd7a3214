"""Test helpers shared by the service tests: staff through the gateway, events straight
to Kafka, topic tails. Handed to tests by the ``kit`` fixture of :mod:`crm_dev.testing`."""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from crm_shared.dlq import topic_partitions
from crm_shared.events import CloudEvent, EventData, StaffRef, make_event, parse_cloudevent
from crm_shared.kafka import EventProducer

T = TypeVar("T")


class TopicTail:
    """Reads a topic from its end as it is now: what arrives, with arrival times."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.bootstrap = bootstrap
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None
        )
        self.events: list[tuple[float, CloudEvent]] = []

    async def __aenter__(self) -> TopicTail:
        await self.consumer.start()
        numbers = await topic_partitions(self.bootstrap, self.topic)
        parts = [TopicPartition(self.topic, p) for p in numbers]
        assert parts, f"no topic {self.topic}"
        self.consumer.assign(parts)
        await self.consumer.seek_to_end(*parts)
        for part in parts:
            await self.consumer.position(part)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def collect(
        self, until: Callable[[list[CloudEvent]], bool], timeout: float = 10.0
    ) -> list[tuple[float, CloudEvent]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if until([e for _, e in self.events]):
                break
            batches = await self.consumer.getmany(timeout_ms=50)
            now = time.time()
            for records in batches.values():
                for record in records:
                    try:
                        self.events.append((now, parse_cloudevent(record.value)))
                    except Exception:  # noqa: S112 - not ours
                        continue
        return self.events

    def named(self, name: str, **data: Any) -> list[tuple[float, CloudEvent]]:
        return [
            (t, e)
            for t, e in self.events
            if e.name == name and all(_json_data(e).get(k) == v for k, v in data.items())
        ]


def _json_data(event: CloudEvent) -> dict[str, Any]:
    """An event's data as JSON values (a dict already, unless parsed typed)."""
    if isinstance(event.data, dict):
        return event.data
    return event.data.model_dump(mode="json")


async def publish(bootstrap: str, *payloads: EventData) -> list[CloudEvent]:
    producer = EventProducer(bootstrap, client_id="test")
    await producer.start()
    try:
        events = [make_event(p, source="/crm/test") for p in payloads]
        for event in events:
            await producer.publish(type(event.payload()).kafka_topic, event)
        return events
    finally:
        await producer.stop()


async def new_staff(api: httpx.AsyncClient, language: str = "de") -> dict[str, Any]:
    name = f"staff{uuid.uuid4().hex[:10]}"
    response = await api.post(
        "/api/staff",
        json={
            "username": name,
            "password": "pw-" + name,
            "name": f"Anna {name}",
            "initials": "AB",
            "email": f"{name}@firma.example",
            "roles": ["crm_user"],
            "language": language,
        },
    )
    assert response.status_code == 201, response.text
    staff: dict[str, Any] = response.json()
    token = await api.post("/api/auth/token", json={"username": name, "password": "pw-" + name})
    assert token.status_code == 200, token.text
    staff["token"] = token.json()["access_token"]
    staff["ref"] = StaffRef(staff_id=staff["id"], name=staff["name"], email=staff["email"])
    return staff


RANGED_LISTS = ("company_sizes", "revenue_groups")


async def allow_crm_values(api: httpx.AsyncClient, **lists: list[str]) -> None:
    """Add values to the CRM admin lists (``partner_statuses=["Neu"]``, ``products=[...]``,
    ``company_sizes=[...]`` …) through ``PUT /api/crm/settings``, keeping what is there.
    Ranged lists get open-ended entries at the end, which never change the group an
    amount falls in before them."""
    current = (await api.get("/api/crm/settings")).json()
    for key, names in lists.items():
        known = [e["name"] if key in RANGED_LISTS else e for e in current[key]]
        for name in names:
            if name not in known:
                current[key].append(
                    {"name": name, "min": 0, "max": None} if key in RANGED_LISTS else name
                )
    response = await api.put("/api/crm/settings", json=current)
    assert response.status_code == 200, response.text


async def eventually(
    check: Callable[[], T | Awaitable[T]], what: str, timeout: float = 10.0, every: float = 0.1
) -> T:
    """The first truthy result of ``check`` (sync or async, polled every ``every`` s);
    fails the test, saying ``what`` was awaited and what ``check`` last gave, when none
    comes in ``timeout`` s. The one way a test waits for something to happen."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what} (last: {result!r})")
        await asyncio.sleep(every)


class Kit:
    """The helpers above, handed to tests as a fixture (test files import no conftest)."""

    TopicTail = TopicTail
    publish = staticmethod(publish)
    new_staff = staticmethod(new_staff)
    eventually = staticmethod(eventually)
    allow_crm_values = staticmethod(allow_crm_values)
