"""End-to-end latency: API call → InteractionLogged → notifier → mail accepted by SMTP.

Starts real servers (Kafka, Redis, PostgreSQL; or uses CRM_KAFKA_BOOTSTRAP,
CRM_REDIS_URL, CRM_TEST_POSTGRES_URL), a recording SMTP sink and every service, then logs
`incoming` interactions through the gateway at a fixed rate. Request and acceptance
times are wall-clock times of the same machine.

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
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from benchkit import (
    ADMIN_PASSWORD,
    BenchStack,
    bench_stack,
    cpu_seconds,
    kafka_floor,
    paced,
    rss_kib,
    smtp_floor,
    summary,
)

SUBJECT = "Wir haben Ihre Nachricht erhalten: "  # the German incoming template's subject


async def measure(bench: BenchStack, rate: float, count: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=bench.stack.gateway_url, timeout=30) as api:
        token = (
            await api.post(
                "/api/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD}
            )
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
        # warm-up, not counted: one mail all the way through, so every consumer on the way
        # has joined its group and taken in the contacts (a machine under load may take
        # seconds for that after a start, which is not the latency measured here)
        warm = contacts.pop()
        response = await api.post(
            "/api/interactions",
            json={
                "contact_id": warm["id"],
                "topic": f"warm-{run}",
                "kind": "incoming",
                "text": "w",
            },
        )
        response.raise_for_status()
        deadline = time.monotonic() + 120
        while SUBJECT + f"warm-{run}" not in bench.arrivals() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)

        async def log(i: int) -> tuple[str, float, float]:
            topic = f"{run}-{i}"
            started = time.time()
            response = await api.post(
                "/api/interactions",
                json={
                    "contact_id": contacts[i]["id"],
                    "topic": topic,
                    "kind": "incoming",
                    "text": "latency",
                },
            )
            response.raise_for_status()
            return SUBJECT + topic, started, time.time() - started

        cpu_before = cpu_seconds(bench.processes)
        sent = await paced(rate, count, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(s in bench.arrivals() for s, _, _ in sent):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    cpu_after = cpu_seconds(bench.processes)
    arrivals = bench.arrivals()
    missing = [s for s, _, _ in sent if s not in arrivals]
    return {
        "cpu_ms": {name: (cpu_after[name] - cpu_before[name]) * 1000 / count for name in cpu_after},
        "e2e": [arrivals[s] - t for s, t, _ in sent if s in arrivals],
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
    with bench_stack("crm-bench-") as bench:
        result = asyncio.run(measure(bench, args.rate, count))
        kafka_rt = asyncio.run(kafka_floor(bench.kafka, args.rate, count))
        smtp = asyncio.run(smtp_floor(bench.sink.port, args.rate, count))
        services = {n: p.pid for n, p in bench.stack.services.items() if p.pid}
        memory = {name: rss_kib(pid) for name, pid in services.items()}
        kafka_rss = rss_kib(bench.processes["Kafka"]) if "Kafka" in bench.processes else 0

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
