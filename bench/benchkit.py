"""What the end-to-end benchmarks share: the whole stack on PostgreSQL with a recording
SMTP sink, open-loop pacing, percentiles, CPU per process, and the floors (a bare Kafka
produce → consume round trip, bare SMTP sends) measured beside them in the same run.

Imported by the scripts in ``bench/`` (run as ``uv run --frozen python bench/<name>.py``,
which puts this folder on the import path).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import aiosmtplib
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from crm_dev.servers import LocalServers, SmtpSink, cache_dir, tree_cpu_seconds
from crm_dev.stack import IMPLEMENTED, Stack, StackConfig
from crm_dev.testing import create_database
from crm_shared.kafka import ensure_topics
from crm_shared.lag import consumer_lag

T = TypeVar("T")
ADMIN_PASSWORD = "bench-admin"  # noqa: S105 - a throwaway stack's admin


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(name: str, values_s: Sequence[float]) -> dict[str, Any]:
    """n, p50, p99 and mean in milliseconds of durations given in seconds."""
    ms = [v * 1000 for v in values_s]
    return {
        "name": name,
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "mean_ms": statistics.fmean(ms) if ms else float("nan"),
    }


async def paced(rate: float, count: int, action: Callable[[int], Awaitable[T]]) -> list[T]:
    """Start ``action(i)`` at a fixed rate (open loop: a slow answer does not slow the
    sending), gather the results."""
    tasks = []
    start = time.monotonic()
    for i in range(count):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(action(i)))
    return await asyncio.gather(*tasks)


def cpu_seconds(processes: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each process (with its children: PostgreSQL's backends);
    ``bench`` is this process with the load generators it ran (vegeta)."""
    used = {name: tree_cpu_seconds(pid) for name, pid in processes.items()}
    times = os.times()
    used["bench"] = times.user + times.system + times.children_user + times.children_system
    return used


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class BenchStack:
    """Servers, the recording SMTP sink and every service on PostgreSQL."""

    stack: Stack
    sink: SmtpSink
    kafka: str
    processes: dict[str, int] = field(default_factory=dict)
    """The process of each service and server (for CPU and memory)."""

    def arrivals(self) -> dict[str, float]:
        """Wall-clock acceptance time of each mail the sink took, by subject (first)."""
        seen: dict[str, float] = {}
        assert self.sink.record is not None
        if not self.sink.record.exists():
            return seen
        for line in self.sink.record.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) >= 2:
                seen.setdefault(parts[1], float(parts[0]))
        return seen

    def by_recipient(self) -> dict[str, list[float]]:
        """The acceptance times of the mails the sink took, per recipient."""
        seen: dict[str, list[float]] = {}
        assert self.sink.record is not None
        if self.sink.record.exists():
            for line in self.sink.record.read_text().splitlines():
                parts = line.split("\t")
                if len(parts) >= 3:
                    for recipient in parts[2].split(","):
                        seen.setdefault(recipient, []).append(float(parts[0]))
        return seen

    def count_by_subject(self) -> dict[str, int]:
        """How many mails the sink took per subject (duplicates are > 1)."""
        counts: dict[str, int] = {}
        assert self.sink.record is not None
        if self.sink.record.exists():
            for line in self.sink.record.read_text().splitlines():
                parts = line.split("\t")
                if len(parts) >= 2:
                    counts[parts[1]] = counts.get(parts[1], 0) + 1
        return counts


class Recipients:
    """The sink's record read as it grows: each poll reads only the lines added since the
    last (a mailing's 100,000 lines are not parsed again twice a second, on the machine
    being measured)."""

    def __init__(self, bench: BenchStack) -> None:
        assert bench.sink.record is not None
        self._path = bench.sink.record
        self._offset = 0
        self.times: dict[str, list[float]] = {}
        """Acceptance times per recipient."""

    def poll(self) -> dict[str, list[float]]:
        if self._path.exists():
            with self._path.open("rb") as record:
                record.seek(self._offset)
                data = record.read()
            complete = data[: data.rfind(b"\n") + 1]
            self._offset += len(complete)
            for line in complete.decode().splitlines():
                parts = line.split("\t")
                if len(parts) >= 3:
                    for recipient in parts[2].split(","):
                        self.times.setdefault(recipient, []).append(float(parts[0]))
        return self.times


async def group_lags(bootstrap: str) -> dict[str, int]:
    """The summed lag of each of the services' consumer groups on the ``crm.*`` topics."""
    lags: dict[str, int] = {}
    for lag in await consumer_lag(bootstrap):
        if lag.group.startswith("crm-lag") or not lag.topic.startswith("crm."):
            continue
        lags[lag.group] = lags.get(lag.group, 0) + lag.lag
    return lags


async def caught_up(bootstrap: str) -> None:
    """Until every consumer group has taken in everything (five minutes at most)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(300):
            while any((await group_lags(bootstrap)).values()):  # noqa: ASYNC110 - polls Kafka
                await asyncio.sleep(1)


@contextlib.contextmanager
def bench_stack(
    prefix: str, env: dict[str, str] | None = None, *, names: Sequence[str] = IMPLEMENTED
) -> Iterator[BenchStack]:
    """Start servers (or use those the environment names), a recording SMTP sink and the
    services on PostgreSQL; stop everything on exit."""
    with LocalServers(prefix=prefix) as servers:
        kafka, redis, postgres = servers.kafka(), servers.redis(), servers.postgres()
        sink = SmtpSink(servers.root / "mail", record=True)
        sink.start()
        asyncio.run(ensure_topics(kafka))
        databases = {n: asyncio.run(create_database(postgres, n)) for n in names}
        stack = Stack(
            StackConfig(
                kafka_bootstrap=kafka,
                redis_url=redis,
                smtp_host="127.0.0.1",
                smtp_port=sink.port,
                data_dir=servers.root / "data",
                database_urls=databases,
                env={
                    "CRM_ENV": "test",
                    "CRM_ADMIN_PASSWORD": ADMIN_PASSWORD,
                    "CRM_LOG_LEVEL": "WARNING",
                    **(env or {}),
                },
            )
        )
        try:
            stack.start_all(names)
            processes = {n: p.pid for n, p in stack.services.items() if p.pid}
            processes.update(servers.pids())
            if sink.proc and sink.proc.process:
                processes["SMTP sink"] = sink.proc.process.pid
            yield BenchStack(stack=stack, sink=sink, kafka=kafka, processes=processes)
        finally:
            stack.stop_all()
            sink.stop()


async def kafka_floor(bootstrap: str, rate: float, count: int) -> list[float]:
    """Produce → consume round trips of a bare aiokafka producer and consumer at ``rate``
    (``acks=all``, idempotent, as the services' producer)."""
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
            batches = await consumer.getmany(timeout_ms=100)
            now = time.monotonic()
            for records in batches.values():
                for record in records:
                    received[record.value] = now

    reader = asyncio.create_task(consume())

    async def send(i: int) -> None:
        value = str(i).encode()
        sent[value] = time.monotonic()
        await producer.send_and_wait(topic, value)

    await paced(rate, count, send)
    await asyncio.wait_for(reader, 120)
    await producer.stop()
    await consumer.stop()
    return [received[k] - sent[k] for k in sent]


async def smtp_floor(port: int, rate: float, count: int, *, connections: int = 1) -> list[float]:
    """Bare SMTP sends at ``rate`` over ``connections`` connections kept open (as the
    notifier's pool): the time from the send's start to the server's acceptance."""
    pool: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
    for _ in range(connections):
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
        await smtp.connect()
        pool.put_nowait(smtp)

    async def send(i: int) -> float:
        message = (
            f"From: a@example.com\r\nTo: floor-{i}@example.com\r\nSubject: floor {i}\r\n\r\nx\r\n"
        )
        started = time.monotonic()
        smtp = await pool.get()
        try:
            await smtp.sendmail("a@example.com", [f"floor-{i}@example.com"], message)
        finally:
            pool.put_nowait(smtp)
        return time.monotonic() - started

    try:
        return await paced(rate, count, send)
    finally:
        while not pool.empty():
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await pool.get_nowait().quit()


VEGETA_VERSION = "v12.12.0"  # keep in step with scripts/setup.sh


def vegeta() -> str:
    """The vegeta binary (on PATH, or built once by ``scripts/setup.sh --bench-tools``)."""
    found = shutil.which("vegeta")
    built = cache_dir() / f"vegeta-{VEGETA_VERSION}" / "vegeta"
    if found:
        return found
    if not built.exists():
        root = Path(__file__).resolve().parents[1]
        subprocess.run(["bash", str(root / "scripts/setup.sh"), "--bench-tools"], check=True)
    return str(built)


@dataclass(frozen=True)
class Sent:
    """One request of a load: its index, when it started (wall clock), how long until its
    answer, and the answer's status (0: none)."""

    index: int
    started: float
    seconds: float
    status: int


def attack(
    url: str,
    bodies: Sequence[bytes],
    rate: float,
    *,
    headers: dict[str, str],
    workdir: Path,
) -> list[Sent]:
    """POST ``bodies`` to ``url`` at ``rate`` a second, in order, open loop (vegeta: a
    request starts on time whatever the answers before it do); each request carries its
    index as ``?bench=<i>`` so its result is matched to its body."""
    targets = workdir / "targets.jsonl"
    with targets.open("w") as out:
        for i, body in enumerate(bodies):
            target = {
                "method": "POST",
                "url": f"{url}?bench={i}",
                "body": base64.b64encode(body).decode(),
                "header": {k: [v] for k, v in headers.items()},
            }
            out.write(json.dumps(target) + "\n")
    results = workdir / "results.bin"
    seconds = len(bodies) / rate
    binary = vegeta()
    subprocess.run(
        [
            binary,
            "attack",
            "-format=json",
            "-lazy",
            f"-targets={targets}",
            f"-rate={rate:g}/1s",
            f"-duration={seconds:.3f}s",
            "-timeout=120s",
            "-max-workers=4000",
            "-keepalive=true",
            f"-output={results}",
        ],
        check=True,
    )
    encoded = subprocess.run(
        [binary, "encode", "-to=json", str(results)], check=True, capture_output=True, text=True
    ).stdout
    sent = []
    for line in encoded.splitlines():
        result = json.loads(line)
        index = int(result["url"].rsplit("bench=", 1)[1])
        started = datetime.fromisoformat(result["timestamp"]).timestamp()
        sent.append(Sent(index, started, result["latency"] / 1e9, int(result["code"])))
    return sorted(sent, key=lambda s: s.index)
