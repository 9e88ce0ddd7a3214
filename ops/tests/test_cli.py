"""The operator CLI against real servers, run as an operator runs it (a process)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import text

from crm_dev.testing import create_database
from crm_shared.db import Database
from crm_shared.kafka import EventProducer, ensure_topics


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
