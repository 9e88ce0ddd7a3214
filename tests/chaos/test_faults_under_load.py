"""Faults under load: a steady stream of incoming interactions goes through the gateway
while, one after the other, each service is SIGKILLed (and restarted by the stack's
watchdog, as ``make dev`` and Kubernetes do), the Kafka broker is SIGKILLed and started
again, the mail server is away for 60 s, PostgreSQL is restarted and Redis is restarted.

After each fault: every interaction the API accepted (201) is mailed exactly once (a
repeat only for a mail in flight when the notifier died, with the same Message-ID, and
counted), its ``InteractionLogged`` is on ``crm.interactions``, every consumer group has
caught up and no dead letter was written. While a service is down the gateway answers
503 problem+json (or, while the gateway itself restarts, nothing: the connection is
refused), never 500 and never a hang. The figures are printed (``-s``) and kept in the
README.

Runs after the other tests of the session (it restarts the session's servers), on the
servers the session started itself (the local launchers CI uses).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from crm_dev.servers import SmtpSink
from crm_dev.stack import Stack
from crm_dev.testing import LAUNCHED
from crm_dev.testkit import TopicTail, eventually
from crm_shared.events import all_topics, dead_letter_topic
from crm_shared.lag import consumer_lag

RATE = 20.0  # interactions a second: what the stack holds on this machine with room
BEFORE, AFTER = 2.0, 3.0  # seconds of load before a fault and after its repair
SMTP_DOWN = 60.0
SUBJECT = "Wir haben Ihre Nachricht erhalten: "
SERVICES = ("contacts", "history", "interactions", "campaigns", "reminders", "notifier", "gateway")

pytestmark = [pytest.mark.after_everything(0), pytest.mark.timeout(1200)]


@dataclass
class Phase:
    """What one fault did to the stream."""

    fault: str
    accepted: dict[str, str] = field(default_factory=dict)  # topic -> interaction id
    refused: Counter[str] = field(default_factory=Counter)  # answer -> how often
    mailed: int = 0
    duplicates: int = 0
    lost: int = 0
    missing_events: int = 0
    recovered_s: float = 0.0


class MailCounter:
    """Mails the sink took, by subject, read incrementally from its Maildir."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        self.seen: set[str] = set()
        self.subjects: Counter[str] = Counter()
        self.message_ids: dict[str, set[str]] = {}
        self._parser = BytesHeaderParser()

    def scan(self) -> None:
        for sub in ("new", "cur"):
            folder = self.maildir / sub
            if not folder.exists():
                continue
            for entry in os.scandir(folder):
                if entry.name in self.seen:
                    continue
                self.seen.add(entry.name)
                with open(entry.path, "rb") as handle:
                    headers = self._parser.parse(handle)
                subject = str(headers.get("Subject", ""))
                self.subjects[subject] += 1
                self.message_ids.setdefault(subject, set()).add(str(headers.get("Message-ID")))


async def dead_letters(bootstrap: str) -> dict[str, int]:
    """How many records each dead-letter topic holds."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await reader.start()
    try:
        parts = [
            TopicPartition(dead_letter_topic(topic), p)
            for topic in all_topics()
            for p in (reader.partitions_for_topic(dead_letter_topic(topic)) or {0})
        ]
        ends = await reader.end_offsets(parts)
        starts = await reader.beginning_offsets(parts)
        totals: Counter[str] = Counter()
        for part in parts:
            totals[part.topic] += ends[part] - starts[part]
        return dict(totals)
    finally:
        await reader.stop()


async def caught_up(bootstrap: str) -> bool:
    lags = await consumer_lag(bootstrap)
    return all(lag.lag == 0 for lag in lags if lag.topic.startswith("crm."))


def kill_pid(pid: int | None) -> None:
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def ready(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            return (await client.get(f"{url}/readyz")).status_code == 200
    except httpx.HTTPError:
        return False


def service_fault(stack: Stack, name: str) -> Callable[[], Awaitable[None]]:
    async def fault() -> None:
        crashed = stack.services[name]
        kill_pid(crashed.pid)

        async def restarted() -> bool:
            current = stack.services[name]
            return current is not crashed and current.running and await ready(current.url)

        await eventually(restarted, f"{name} restarted by the watchdog and ready", timeout=60)

    return fault


def server_fault(name: str, *, kill: bool, down: float = 0.0) -> Callable[[], Awaitable[None]]:
    async def fault() -> None:
        server = LAUNCHED[name]
        if kill:  # a crash: SIGKILL, then the same server on the same port and data
            assert server.proc is not None and server.proc.process is not None
            kill_pid(server.proc.process.pid)
            await asyncio.to_thread(server.proc.process.wait, 30)
        else:  # a restart: the server's own shutdown, then a start
            await asyncio.to_thread(server.stop)
        await asyncio.sleep(down)
        await asyncio.to_thread(server.start)

    return fault


def smtp_fault(sink: SmtpSink) -> Callable[[], Awaitable[None]]:
    async def fault() -> None:
        await asyncio.to_thread(sink.stop)
        await asyncio.sleep(SMTP_DOWN)
        await asyncio.to_thread(sink.start)

    return fault


async def run_phase(
    fault_name: str,
    fault: Callable[[], Awaitable[None]],
    client: httpx.AsyncClient,
    contacts: list[str],
    mails: MailCounter,
    tail: TopicTail,
    bootstrap: str,
) -> Phase:
    phase = Phase(fault_name)
    tag = uuid.uuid4().hex[:6]
    stop = asyncio.Event()

    async def send(i: int) -> None:
        topic = f"{tag}-{i}"
        try:
            response = await client.post(
                "/api/interactions",
                json={
                    "contact_id": contacts[i % len(contacts)],
                    "topic": topic,
                    "kind": "incoming",
                    "text": fault_name,
                },
            )
        except httpx.TransportError as exc:  # the gateway itself is restarting
            phase.refused[type(exc).__name__] += 1
            return
        if response.status_code == 201:
            phase.accepted[topic] = response.json()["id"]
        else:
            kind = response.headers.get("content-type", "").split(";")[0]
            phase.refused[f"{response.status_code} {kind}"] += 1

    async def load() -> None:
        tasks: list[asyncio.Task[None]] = []
        started, i = time.monotonic(), 0
        while not stop.is_set():
            delay = started + i / RATE - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(i)))
            i += 1
        await asyncio.gather(*tasks)

    loader = asyncio.create_task(load())
    try:
        await asyncio.sleep(BEFORE)
        await fault()
        repaired = time.monotonic()
        await asyncio.sleep(AFTER)
    finally:
        stop.set()
        await loader

    wanted = {SUBJECT + topic for topic in phase.accepted}

    async def all_through() -> bool:
        mails.scan()
        await tail.collect(lambda _: False, timeout=0.5)  # read what arrived meanwhile
        return wanted <= mails.subjects.keys() and await caught_up(bootstrap)

    with contextlib.suppress(AssertionError):  # what is still missing is counted below
        await eventually(all_through, f"every mail and group after {fault_name}", timeout=180)
    phase.recovered_s = time.monotonic() - repaired
    mails.scan()
    logged = {
        str(event.data["interaction_id"])
        for _, event in tail.named("InteractionLogged")
        if isinstance(event.data, dict)
    }
    phase.mailed = len(wanted & mails.subjects.keys())
    phase.lost = len(wanted) - phase.mailed
    phase.duplicates = sum(mails.subjects[s] - 1 for s in wanted if mails.subjects[s] > 1)
    phase.missing_events = sum(1 for i in phase.accepted.values() if i not in logged)
    phase_repeats_differ = [s for s in wanted if len(mails.message_ids.get(s, ())) > 1]
    assert not phase_repeats_differ, f"{fault_name}: repeats with another Message-ID"
    return phase


async def test_nothing_is_lost_or_sent_twice_while_things_break(
    stack: Stack,
    admin_token: str,
    kafka_bootstrap: str,
    smtp_sink: SmtpSink,
) -> None:
    if not {"kafka", "postgres", "redis"} <= LAUNCHED.keys():
        pytest.skip("restarts the servers the session started itself; these were given")
    async with httpx.AsyncClient(
        base_url=stack.gateway_url,
        timeout=30,
        headers={"Authorization": f"Bearer {admin_token}"},
    ) as client:
        contacts = []
        for i in range(20):
            created = await client.post(
                "/api/contacts",
                json={
                    "kind": "person",
                    "name": f"Störung {i}",
                    "email": f"fault-{i}-{uuid.uuid4().hex[:6]}@example.com",
                },
            )
            assert created.status_code == 201, created.text
            contacts.append(created.json()["id"])
        mails = MailCounter(smtp_sink.maildir)
        mails.scan()
        dlq_before = await dead_letters(kafka_bootstrap)
        faults: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            *[(f"{name} SIGKILLed", service_fault(stack, name)) for name in SERVICES],
            ("Kafka broker SIGKILLed", server_fault("kafka", kill=True)),
            (f"mail server away {SMTP_DOWN:.0f} s", smtp_fault(smtp_sink)),
            ("PostgreSQL restarted", server_fault("postgres", kill=False)),
            ("Redis restarted", server_fault("redis", kill=False)),
        ]
        phases = []
        async with TopicTail(kafka_bootstrap, "crm.interactions") as tail:
            for name, fault in faults:
                phases.append(
                    await run_phase(name, fault, client, contacts, mails, tail, kafka_bootstrap)
                )
        dlq_after = await dead_letters(kafka_bootstrap)

    print(
        "\n| fault | accepted | refused | mailed | duplicates | lost | events missing | recovered |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for p in phases:
        refused = ", ".join(f"{n}x {k}" for k, n in p.refused.items()) or "0"
        print(
            f"| {p.fault} | {len(p.accepted)} | {refused} | {p.mailed} | {p.duplicates} | "
            f"{p.lost} | {p.missing_events} | {p.recovered_s:.1f} s |"
        )
    for p in phases:
        assert p.accepted, f"{p.fault}: nothing was accepted"
        assert p.lost == 0 and p.missing_events == 0, p
        if not p.fault.startswith("notifier"):
            assert p.duplicates == 0, p
        for answer in p.refused:
            assert answer.startswith("503 application/problem+json") or not answer[0].isdigit(), (
                p.fault,
                answer,
            )
    grown = {t: n - dlq_before.get(t, 0) for t, n in dlq_after.items() if n > dlq_before.get(t, 0)}
    assert not grown, f"dead letters written: {grown}"
