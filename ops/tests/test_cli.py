"""The operator CLI against real servers, run as an operator runs it (a process)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from redis.asyncio import Redis
from sqlalchemy import text

from crm_dev.stack import Stack
from crm_dev.testing import create_database, read_all
from crm_shared.consumer import DeadLetter, Delivery, EventConsumer, RedisDeduplicator
from crm_shared.db import Database
from crm_shared.events import ContactDeleted, dead_letter_topic, make_event
from crm_shared.kafka import EventProducer, create_broker, ensure_topics


def crm(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    return subprocess.run(
        [sys.executable, "-m", "crm_ops", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_migrate_brings_a_database_up_and_check_tells_behind_current_and_newer(
    postgres_url: str,
) -> None:
    url = await create_database(postgres_url, "ops")
    env = {"CRM_CONTACTS_DATABASE_URL": url}
    behind = crm("migrate", "contacts", "--check", **env)
    assert behind.returncode == 1 and "run the migrations first" in behind.stderr
    done = crm("migrate", "contacts", **env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("contacts: at ")
    assert crm("migrate", "contacts", "--check", **env).stdout.strip() == "contacts: current"
    # a release rolled back after its Job migrated: the old code accepts the newer schema
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = 'from_a_newer_release'"))
    await db.dispose()
    assert crm("migrate", "contacts", "--check", **env).stdout.strip() == "contacts: newer"
    unknown = crm("migrate", "billing", **env)
    assert unknown.returncode == 2 and "unknown service" in unknown.stderr


async def test_lag_shows_what_a_group_has_not_committed(kafka_bootstrap: str) -> None:
    topic, group = f"ops-lag-{uuid.uuid4().hex[:6]}", f"ops-group-{uuid.uuid4().hex[:6]}"
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    producer = EventProducer(kafka_bootstrap, client_id="ops-test")
    await producer.start()
    for i in range(5):
        await producer.send(topic, f"m{i}".encode(), key=b"k", headers=[])
    await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    consumer.assign([TopicPartition(topic, 0)])
    await consumer.commit({TopicPartition(topic, 0): 2})
    await consumer.stop()
    shown = crm("lag", "--group", group, "--partitions", CRM_KAFKA_BOOTSTRAP=kafka_bootstrap)
    assert shown.returncode == 0, shown.stderr
    assert f"{group:<24} lag 3" in shown.stdout
    assert topic in shown.stdout
    over = crm("lag", "-g", group, "--fail-above", "2", CRM_KAFKA_BOOTSTRAP=kafka_bootstrap)
    assert over.returncode == 1


async def test_reminders_rebuild_refills_the_schedule_from_the_database(
    postgres_url: str, redis_url: str
) -> None:
    url = await create_database(postgres_url, "ops")
    env = {
        "CRM_REMINDERS_DATABASE_URL": url,
        "CRM_REDIS_URL": redis_url,
        "CRM_REMINDERS_REDIS_PREFIX": f"ops:{uuid.uuid4().hex[:6]}",
    }
    assert crm("migrate", "reminders", **env).returncode == 0
    db = Database(url)
    async with db.engine.begin() as conn:
        columns = (await conn.execute(text("SELECT * FROM reminder LIMIT 0"))).keys()
    await db.dispose()
    assert "next_fire_at" in columns  # what the rebuild reads
    rebuilt = crm("reminders", "rebuild", **env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "0 pending stages re-added" in rebuilt.stdout


def test_dlq_replay_refuses_a_topic_that_is_not_a_dead_letter_topic() -> None:
    result = crm("dlq", "replay", "crm.interactions")
    assert result.returncode == 2 and "dead-letter topic" in result.stderr


async def _until(check: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := await check()):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)
    return result


async def test_dlq_replay_republishes_a_dead_letter_once_and_dry_run_sends_nothing(
    kafka_bootstrap: str, redis_url: str
) -> None:
    """A real consumer dead-letters an event it cannot apply; once the cause is fixed,
    ``crm dlq replay`` puts it back on its topic once, where the consumer applies it."""
    topic = f"ops-replay-{uuid.uuid4().hex[:8]}"
    dlq = dead_letter_topic(topic)
    await ensure_topics(kafka_bootstrap, [topic, dlq], partitions=1)
    producer = EventProducer(kafka_bootstrap, client_id="ops-test")
    redis = Redis.from_url(redis_url)
    broken, applied = [True], []

    async def handler(delivery: Delivery) -> None:
        if broken[0]:
            raise DeadLetter("contact data unusable")
        applied.append(delivery.event.id)

    consumer = EventConsumer(
        topic=topic,
        group_id=f"ops-tests-{uuid.uuid4().hex[:8]}",
        handlers={"ContactDeleted": handler},
        dedupe=RedisDeduplicator(redis),
        producer=producer,
    )
    broker = create_broker(kafka_bootstrap, client_id=consumer.group_id)
    consumer.register(broker)
    await producer.start()
    await broker.start()
    try:
        event = make_event(ContactDeleted(contact_id=str(uuid.uuid4())), source="/crm/ops-tests")
        await producer.publish(topic, event)

        async def dead_letters() -> list[Any]:
            return await read_all(kafka_bootstrap, [dlq])

        [letter] = await _until(dead_letters, "the consumer did not dead-letter the event")
        assert dict(letter.headers)["crm-dlq-reason"] == b"failed"
        broken[0] = False  # the cause is fixed: replay
        env = {"CRM_KAFKA_BOOTSTRAP": kafka_bootstrap}

        dry = crm("dlq", "replay", dlq, "--dry-run", **env)
        assert dry.returncode == 0, dry.stderr
        assert f"{dlq}@0/0 -> {topic} (failed): " in dry.stdout
        assert f"would replay 1 dead letter(s) from {dlq}" in dry.stdout
        assert len(await read_all(kafka_bootstrap, [topic])) == 1  # nothing sent

        done = crm("dlq", "replay", dlq, **env)
        assert done.returncode == 0, done.stderr
        assert f"replayed 1 dead letter(s) from {dlq}" in done.stdout

        async def applied_once() -> bool:
            return applied == [event.id]

        await _until(applied_once, "the replayed event was not applied")
        again = crm("dlq", "replay", dlq, **env)  # resumes after what it replayed
        assert f"replayed 0 dead letter(s) from {dlq}" in again.stdout
        original, replayed = await read_all(kafka_bootstrap, [topic])
        assert (replayed.key, replayed.value) == (original.key, original.value)
        assert replayed.headers == original.headers  # the crm-dlq-* headers left behind
        await asyncio.sleep(1)
        assert applied == [event.id]
        assert len(await dead_letters()) == 1
    finally:
        await broker.stop()
        await producer.stop()
        await redis.aclose()


async def test_timeline_rebuild_gives_the_same_timeline(
    api: httpx.AsyncClient, stack: Stack, kafka_bootstrap: str
) -> None:
    """``crm timeline rebuild`` clears the timeline and reads it back from the topics:
    a contact's items are the same afterwards, and one that no event backs is gone."""
    email = f"ops-{uuid.uuid4().hex[:8]}@example.com"
    body = {"kind": "person", "name": "Olga Ops", "email": email}
    created = await api.post("/api/contacts", json=body)
    assert created.status_code == 201, created.text
    contact_id = created.json()["id"]

    async def timeline() -> list[dict[str, Any]]:
        response = await api.get(f"/api/contacts/{contact_id}/timeline", params={"limit": 500})
        if response.status_code != 200:
            return []
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def logged() -> bool:  # the copies arrive by event
        entry = await api.post(f"/api/contacts/{contact_id}/history", json={"text": "Rückruf"})
        return entry.status_code == 201

    await _until(logged, "no history entry")

    async def interaction() -> bool:
        response = await api.post(
            "/api/interactions",
            json={"contact_id": contact_id, "topic": "Ops", "kind": "internal", "text": "-"},
        )
        return response.status_code == 201

    await _until(interaction, "no interaction")

    async def complete() -> list[dict[str, Any]]:  # contact, history entry, interaction
        items = await timeline()
        kinds = {i["type"] for i in items}
        return items if {"contact", "history", "interaction"} <= kinds else []

    before = await _until(complete, "the timeline did not fill")
    db = Database(stack.config.database_urls["history"])
    async with db.engine.begin() as conn:  # an item no event backs
        await conn.execute(
            text(
                "INSERT INTO timeline_item (id, contact_id, at, type, source, summary)"
                " VALUES (:id, :contact, :at, 'history', 'history', 'stray')"
            ),
            {"id": f"stray-{uuid.uuid4().hex}", "contact": contact_id, "at": datetime.now(UTC)},
        )
    await db.dispose()
    assert len(await timeline()) == len(before) + 1

    rebuilt = crm(
        "timeline",
        "rebuild",
        CRM_HISTORY_DATABASE_URL=stack.config.database_urls["history"],
        CRM_KAFKA_BOOTSTRAP=kafka_bootstrap,
    )
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    assert rebuilt.stdout.startswith("replayed ") and not rebuilt.stdout.startswith("replayed 0 ")
    assert await timeline() == before
