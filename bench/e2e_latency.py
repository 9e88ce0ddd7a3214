"""End-to-end latency: API call → InteractionLogged → notifier → mail accepted by SMTP.

Starts real servers (Kafka, Redis, PostgreSQL; or uses CRM_KAFKA_BOOTSTRAP,
CRM_REDIS_URL, CRM_TEST_POSTGRES_URL) and every service, then logs `incoming`
interactions through the gateway at a fixed rate. The SMTP server runs inside this
process, so request and arrival times come from one clock.

In the same run it measures the floor: a bare aiokafka produce→consume round trip and a
bare SMTP send, and prints the ratio of our latency to that floor. Finally it prints the
resident memory of every service process (goal: all services together under 1 GiB,
the Kafka JVM apart).

    uv run python bench/e2e_latency.py [--rate 10] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from email import message_from_bytes
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiosmtpd.controller import Controller

from crm_dev.servers import KafkaServer, PostgresServer, RedisServer, free_port, tree_cpu_seconds
from crm_dev.stack import IMPLEMENTED, Stack, StackConfig
from crm_dev.testing import create_database
from crm_shared.kafka import ensure_topics


class ArrivalRecorder:
    """aiosmtpd handler: the monotonic time each recipient's mail was accepted."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.monotonic()
        message = message_from_bytes(envelope.original_content or envelope.content)
        with self.lock:
            self.count += 1
            self.arrivals.setdefault(str(message["To"]), now)
        return "250 OK"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(name: str, values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {
        "name": name,
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "mean_ms": statistics.fmean(ms),
    }


async def paced(rate: float, count: int, action: Any) -> list[Any]:
    """Start ``action(i)`` at a fixed rate (open loop), gather the results."""
    tasks = []
    start = time.monotonic()
    for i in range(count):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(action(i)))
    return await asyncio.gather(*tasks)


async def kafka_floor(bootstrap: str, rate: float, count: int) -> list[float]:
    topic = f"bench.floor.{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2
    )
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await producer.start()
    await producer.send_and_wait(topic, b"warm-up")
    await consumer.start()
    await consumer.getone()
    sent: dict[bytes, float] = {}
    received: dict[bytes, float] = {}

    async def consume() -> None:
        while len(received) < count:
            record = await consumer.getone()
            received[record.value] = time.monotonic()

    reader = asyncio.create_task(consume())

    async def send(i: int) -> None:
        value = str(i).encode()
        sent[value] = time.monotonic()
        await producer.send_and_wait(topic, value)

    await paced(rate, count, send)
    await asyncio.wait_for(reader, 60)
    await producer.stop()
    await consumer.stop()
    return [received[k] - sent[k] for k in sent]


async def smtp_floor(port: int, rate: float, count: int) -> list[float]:
    async def send(i: int) -> float:
        message = f"From: a@example.com\r\nTo: floor-{i}@example.com\r\nSubject: x\r\n\r\nx\r\n"
        started = time.monotonic()
        await aiosmtplib.send(
            message,
            sender="a@example.com",
            recipients=[f"floor-{i}@example.com"],
            hostname="127.0.0.1",
            port=port,
        )
        return time.monotonic() - started

    return await paced(rate, count, send)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(processes: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each process (with its children: PostgreSQL's backends);
    ``bench + SMTP`` is this process, whose SMTP server takes the mails."""
    used = {name: tree_cpu_seconds(pid) for name, pid in processes.items()}
    times = os.times()
    used["bench + SMTP"] = times.user + times.system
    return used


async def measure(
    stack: Stack,
    recorder: ArrivalRecorder,
    rate: float,
    count: int,
    processes: dict[str, int],
) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        token = (
            await api.post("/api/auth/token", json={"username": "admin", "password": "bench-admin"})
        ).json()["access_token"]
        api.headers["Authorization"] = f"Bearer {token}"
        run = uuid.uuid4().hex[:6]
        contacts = []
        for i in range(count + 1):
            response = await api.post(
                "/api/contacts",
                json={"kind": "person", "name": f"Bench {i}", "email": f"b{run}-{i}@example.com"},
            )
            response.raise_for_status()
            contacts.append(response.json())
        await asyncio.sleep(2)  # let the interactions service's copies catch up
        # warm-up, not counted: one mail all the way through, so every consumer on the way
        # has joined its group and taken in the contacts (a machine under load may take
        # seconds for that after a start, which is not the latency measured here)
        warm = contacts.pop()
        response = await api.post(
            "/api/interactions",
            json={"contact_id": warm["id"], "topic": "Warm", "kind": "incoming", "text": "w"},
        )
        response.raise_for_status()
        deadline = time.monotonic() + 120
        while warm["email"] not in recorder.arrivals and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)

        async def log(i: int) -> tuple[str, float, float]:
            started = time.monotonic()
            response = await api.post(
                "/api/interactions",
                json={
                    "contact_id": contacts[i]["id"],
                    "topic": "Bench",
                    "kind": "incoming",
                    "text": "latency",
                },
            )
            response.raise_for_status()
            return contacts[i]["email"], started, time.monotonic() - started

        cpu_before = cpu_seconds(processes)
        sent = await paced(rate, count, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(e in recorder.arrivals for e, _, _ in sent):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    cpu_after = cpu_seconds(processes)
    missing = [e for e, _, _ in sent if e not in recorder.arrivals]
    return {
        "cpu_ms": {name: (cpu_after[name] - cpu_before[name]) * 1000 / count for name in cpu_after},
        "e2e": [recorder.arrivals[e] - t for e, t, _ in sent if e in recorder.arrivals],
        "api": [d for _, _, d in sent],
        "missing": len(missing),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to send")
    args = parser.parse_args()
    count = int(args.rate * args.seconds)
    work = Path(tempfile.mkdtemp(prefix="crm-bench-"))
    servers: list[Any] = []

    def server(cls: Any, sub: str) -> Any:
        instance = cls(work / sub)
        instance.start()
        servers.append(instance)
        return instance

    kafka = os.environ.get("CRM_KAFKA_BOOTSTRAP") or server(KafkaServer, "kafka").bootstrap
    redis = os.environ.get("CRM_REDIS_URL") or server(RedisServer, "redis").url
    postgres = os.environ.get("CRM_TEST_POSTGRES_URL") or server(PostgresServer, "pg").url
    recorder = ArrivalRecorder()
    smtp_port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    asyncio.run(ensure_topics(kafka))
    databases = {n: asyncio.run(create_database(postgres, n)) for n in IMPLEMENTED}
    stack = Stack(
        StackConfig(
            kafka_bootstrap=kafka,
            redis_url=redis,
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            data_dir=work / "data",
            database_urls=databases,
            env={
                "CRM_ENV": "test",
                "CRM_ADMIN_PASSWORD": "bench-admin",
                "CRM_LOG_LEVEL": "WARNING",
            },
        )
    )
    try:
        stack.start_all(IMPLEMENTED)
        processes = {name: proc.pid for name, proc in stack.services.items() if proc.pid}
        for instance in servers:
            if getattr(instance, "proc", None) and instance.proc.process:
                processes[type(instance).__name__.removesuffix("Server")] = (
                    instance.proc.process.pid
                )
        result = asyncio.run(measure(stack, recorder, args.rate, count, processes))
        kafka_rt = asyncio.run(kafka_floor(kafka, args.rate, count))
        smtp = asyncio.run(smtp_floor(smtp_port, args.rate, count))
        memory = {name: rss_kib(proc.pid) for name, proc in stack.services.items() if proc.pid}
        kafka_rss = next(
            (
                rss_kib(s.proc.process.pid)
                for s in servers
                if isinstance(s, KafkaServer) and s.proc and s.proc.process
            ),
            0,
        )
    finally:
        stack.stop_all()
        controller.stop()
        for instance in reversed(servers):
            instance.stop()
        shutil.rmtree(work / "kafka", ignore_errors=True)  # the data; the logs stay
        shutil.rmtree(work / "pg", ignore_errors=True)

    e2e = summary("API call → mail accepted", result["e2e"])
    api = summary("API call (201 returned)", result["api"])
    floor_k = summary("floor: aiokafka produce→consume", kafka_rt)
    floor_s = summary("floor: bare SMTP send", smtp)
    floor_p50 = floor_k["p50_ms"] + floor_s["p50_ms"]
    floor_p99 = floor_k["p99_ms"] + floor_s["p99_ms"]
    print(
        f"\nrate {args.rate:g}/s for {args.seconds:g}s = {count} requests; "
        f"mails missing: {result['missing']}"
    )
    print(f"{'measure':38} {'n':>5} {'p50 ms':>9} {'p99 ms':>9}")
    for row in (e2e, api, floor_k, floor_s):
        print(f"{row['name']:38} {row['n']:>5} {row['p50_ms']:>9.1f} {row['p99_ms']:>9.1f}")
    print(f"{'floor (kafka + smtp)':38} {'':>5} {floor_p50:>9.1f} {floor_p99:>9.1f}")
    print(
        f"ratio e2e / floor: p50 {e2e['p50_ms'] / floor_p50:.1f}x, "
        f"p99 {e2e['p99_ms'] / floor_p99:.1f}x"
    )
    print("\nCPU ms per interaction (from the first request until the last mail arrived):")
    for name, ms in result["cpu_ms"].items():
        print(f"  {name:14} {ms:7.2f}")
    print(f"  {'all':14} {sum(result['cpu_ms'].values()):7.2f}")
    total = sum(memory.values())
    print("\nresident memory (RSS):")
    for name, kib in memory.items():
        print(f"  {name:14} {kib / 1024:7.1f} MiB")
    print(f"  {'all services':14} {total / 1024:7.1f} MiB (goal < 1024 MiB)")
    if kafka_rss:
        print(f"  {'kafka (JVM)':14} {kafka_rss / 1024:7.1f} MiB (apart)")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "e2e_latency.json").write_text(
        json.dumps(
            {
                "rate": args.rate,
                "seconds": args.seconds,
                "rows": [e2e, api, floor_k, floor_s],
                "cpu_ms_per_interaction": result["cpu_ms"],
                "floor_p50_ms": floor_p50,
                "floor_p99_ms": floor_p99,
                "rss_kib": memory,
                "kafka_rss_kib": kafka_rss,
                "missing": result["missing"],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
