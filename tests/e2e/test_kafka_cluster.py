"""A broker dies under load: on the 3-broker cluster (replication factor 3,
min.insync.replicas 2, producers acks=all) with two replicas of every service (the chart
run, tests/conftest.py), a steady stream of incoming interactions goes on while one
broker is SIGKILLed and later restarted. Every accepted interaction must be mailed
exactly once, no event lost, and every consumer group must catch up."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

import httpx

from crm_dev.chart_run import ADMIN_PASSWORD, ChartDeployment
from crm_ops.kafka_access import group_reads
from crm_shared.lag import consumer_lag

RATE = 5.0  # interactions per second
SECONDS = 20.0  # of stream; the broker is down from KILL_AT to RESTART_AT
KILL_AT, RESTART_AT = 5.0, 12.0


async def _under_replicated(bootstrap: str) -> int:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith("crm.")]
        described = await admin.describe_topics(topics)
        return sum(
            1 for t in described for p in t["partitions"] if len(p["isr"]) < len(p["replicas"])
        )
    finally:
        await admin.close()


async def test_a_broker_killed_under_load_loses_and_repeats_nothing(
    chart_deployment: ChartDeployment,
) -> None:
    chart, mail = chart_deployment, chart_deployment.mail
    victim = chart.kafka.node(2)
    async with httpx.AsyncClient(base_url=chart.gateway_url, timeout=30) as client:
        token = await client.post(
            "/api/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        contacts = []
        for i in range(5):  # a few contacts: their events spread over the partitions
            email = f"cluster-{i}-{uuid.uuid4().hex[:8]}@example.com"
            created = await client.post(
                "/api/contacts", json={"kind": "person", "name": f"Kunde {i}", "email": email}
            )
            assert created.status_code == 201, created.text
            contacts.append((created.json()["id"], email))
        # the interactions service has each contact's copy before the stream starts
        for contact_id, _ in contacts:
            deadline = time.monotonic() + 20
            while True:
                probe = await client.post(
                    "/api/interactions",
                    json={"contact_id": contact_id, "topic": "warm-up", "kind": "internal",
                          "text": "-"},
                )  # fmt: skip
                if probe.status_code == 201 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)

        accepted: dict[str, tuple[str, float]] = {}  # topic -> (email, accepted at)
        refused: list[str] = []
        started = time.monotonic()
        killed_at = restarted_at = None
        restart: asyncio.Task[None] | None = None
        sent = 0
        while (now := time.monotonic() - started) < SECONDS:
            if killed_at is None and now >= KILL_AT:
                await asyncio.to_thread(victim.kill)  # SIGKILL: no controlled shutdown
                killed_at = time.monotonic()
            if restart is None and now >= RESTART_AT:  # same ports and data dir
                restart = asyncio.create_task(asyncio.to_thread(victim.start))
            contact_id, email = contacts[sent % len(contacts)]
            topic = f"Stream {sent} {uuid.uuid4().hex[:6]}"
            try:
                response = await client.post(
                    "/api/interactions",
                    json={"contact_id": contact_id, "topic": topic, "kind": "incoming",
                          "text": "Bitte zurückrufen"},
                )  # fmt: skip
                if response.status_code == 201:
                    accepted[topic] = (email, time.monotonic())
                else:
                    refused.append(f"{response.status_code} {response.text[:80]}")
            except httpx.HTTPError as exc:
                refused.append(repr(exc))
            sent += 1
            await asyncio.sleep(max(0.0, started + sent / RATE - time.monotonic()))
        assert killed_at is not None and restart is not None
        stream_end = time.monotonic()

        # every accepted interaction mailed, then nothing more turns up
        deadline = time.monotonic() + 90
        while True:
            subjects = Counter(
                s for _, email in contacts for m in mail.messages(email) if (s := str(m["Subject"]))
            )
            mailed = {t for t in accepted if any(t in s for s in subjects)}
            if len(mailed) == len(accepted) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        all_mailed = time.monotonic()
        broker_back_first = restart.done()
        await restart  # the broker is back (a JVM start takes 10-35 s on this loaded box)
        restarted_at = time.monotonic()
        reads = await group_reads()
        while True:
            lags = await consumer_lag(chart.kafka.bootstrap, reads=reads)
            if all(lag.lag == 0 for lag in lags) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        caught_up = time.monotonic()
        await asyncio.sleep(3)  # a duplicate would arrive by now
        subjects = Counter(str(m["Subject"]) for _, email in contacts for m in mail.messages(email))
        per_topic = {t: sum(n for s, n in subjects.items() if s.endswith(t)) for t in accepted}
        lost = sorted(t for t, n in per_topic.items() if n == 0)
        duplicates = sorted(t for t, n in per_topic.items() if n > 1)
        behind = {lag.group: lag.lag for lag in lags if lag.lag}
        under_replicated = await _under_replicated(chart.kafka.bootstrap)

    print(
        f"\nkafka cluster, broker 2 SIGKILLed at {KILL_AT:.0f} s, restarted at "
        f"{RESTART_AT:.0f} s (up again at {restarted_at - started:.1f} s) of a "
        f"{SECONDS:.0f} s stream at {RATE:.0f}/s:\n"
        f"  interactions sent {sent}, accepted {len(accepted)}, refused {len(refused)}\n"
        f"  mailed {len(accepted) - len(lost)}, lost {len(lost)}, duplicates {len(duplicates)}\n"
        f"  every mail there {all_mailed - stream_end:.1f} s after the stream's end "
        f"({'after' if broker_back_first else 'before'} broker 2 was back); "
        f"every group caught up {caught_up - restarted_at:.1f} s after it was back\n"
        f"  under-replicated partitions at the end: {under_replicated}"
    )
    assert not refused, refused[:5]  # the outbox takes writes while a broker is down
    assert not lost, lost[:5]
    assert not duplicates, duplicates[:5]
    assert not behind, behind
    assert under_replicated == 0
