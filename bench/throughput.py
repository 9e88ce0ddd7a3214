"""Throughput: the highest rate of incoming interactions the whole stack holds.

Starts real servers (Kafka, Redis, PostgreSQL; or those the environment names), a
recording SMTP sink (a process of its own) and every service on PostgreSQL, gives it
contacts, then logs ``incoming`` interactions through the gateway at a fixed rate for
``--seconds`` (60) per step, open loop, from vegeta (a Go load generator: a Python
client cost ~3 ms of CPU a request, more than the CRM's own path; built once by
``scripts/setup.sh --bench-tools``). A rate is *held* when, over the step,

- every interaction is answered 201 and mailed (exactly once) within 10 s after the step,
- API call → mail accepted has p99 ≤ ``--p99-ms`` (1,000), and
- every consumer group keeps up: at the end of the sending none is more than 2 s of the
  input behind (its lag at most twice the rate, in records), so none falls further and further back.

Steps go up by ``--factor`` from ``--start`` until one is not held, then bisect
``--refine`` times between the last held and the first not held rate (or run exactly
``--rates``). For each step it prints the latencies, the CPU milliseconds per
interaction of every process (from the step's first request until its last mail), the
lag, and the floor measured right after at the same rate and concurrency: a bare
aiokafka produce → consume round trip and bare SMTP sends over as many connections as
the notifier's pool. From the CPU per interaction it says what limits the rate on these
cores and what each process alone could take on a core of its own.

    uv run --frozen python bench/throughput.py [--start 25] [--factor 2] [--seconds 60]
        [--rates 50,100] [--refine 2] [--smtp-pool 8] [--contacts 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from benchkit import (
    ADMIN_PASSWORD,
    BenchStack,
    attack,
    bench_stack,
    caught_up,
    cpu_seconds,
    group_lags,
    kafka_floor,
    percentile,
    smtp_floor,
    summary,
)

BEHIND_SECONDS = 2.0
DRAIN_SECONDS = 10.0
SUBJECT = "Wir haben Ihre Nachricht erhalten: "  # the German incoming template's subject
SINGLE_THREADED = {
    "contacts",
    "history",
    "interactions",
    "campaigns",
    "reminders",
    "notifier",
    "gateway",
    "SMTP sink",
    "bench",
    "Redis",
}


async def prepare(bench: BenchStack, contacts: int) -> tuple[httpx.AsyncClient, list[str]]:
    """An API client signed in as the admin, and ``contacts`` prospects to write to."""
    api = httpx.AsyncClient(
        base_url=bench.stack.gateway_url,
        timeout=60,
        limits=httpx.Limits(max_connections=512, max_keepalive_connections=512),
    )
    token = (
        await api.post("/api/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD})
    ).json()["access_token"]
    api.headers["Authorization"] = f"Bearer {token}"
    run = uuid.uuid4().hex[:6]
    csv = io.StringIO()
    csv.write("kind,name,email\n")
    for i in range(contacts):
        csv.write(f"person,Durchsatz {run} {i},t{run}-{i}@example.com\n")
    imported = await api.post(
        "/api/contacts/import",
        content=csv.getvalue().encode(),
        headers={"content-type": "text/csv"},
    )
    imported.raise_for_status()
    # imported contacts wait in the inbox, where interactions are refused: accept them
    accepted = await api.post(
        "/api/contacts/bulk",
        json={"selection": {"filter": {"q": f"Durchsatz {run}"}}, "action": "accept"},
    )
    accepted.raise_for_status()
    ids: list[str] = []
    cursor: str | None = None
    while True:
        params = {"q": f"Durchsatz {run}", "limit": "500", **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/api/contacts", params=params)).json()
        ids += [c["id"] for c in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return api, ids


async def one_mail(api: httpx.AsyncClient, bench: BenchStack, contact_id: str, topic: str) -> None:
    """One interaction all the way to its mail (a warm-up: every group joined, copies there)."""
    response = await api.post(
        "/api/interactions",
        json={"contact_id": contact_id, "topic": topic, "kind": "incoming", "text": "warm"},
    )
    response.raise_for_status()
    deadline = time.monotonic() + 120
    while SUBJECT + topic not in bench.arrivals():
        if time.monotonic() > deadline:
            raise RuntimeError("the warm-up mail did not arrive in 120 s")
        await asyncio.sleep(0.2)


async def idle_cpu(bench: BenchStack, seconds: float) -> dict[str, float]:
    """CPU milliseconds a second of each process while nothing is sent (polls, heartbeats,
    sweeps): what a step's CPU holds besides the interactions' own work."""
    before = cpu_seconds(bench.processes)
    started = time.monotonic()
    await asyncio.sleep(seconds)
    after = cpu_seconds(bench.processes)
    elapsed = time.monotonic() - started
    return {name: (after[name] - before[name]) * 1000 / elapsed for name in after}


async def step(
    api: httpx.AsyncClient,
    bench: BenchStack,
    contacts: list[str],
    rate: float,
    seconds: float,
    p99_ms: float,
) -> dict[str, Any]:
    count = int(rate * seconds)
    tag = uuid.uuid4().hex[:6]
    topics = [f"{tag}-{i}" for i in range(count)]
    bodies = [
        json.dumps(
            {
                "contact_id": contacts[i % len(contacts)],
                "topic": topic,
                "kind": "incoming",
                "text": "Durchsatz",
            }
        ).encode()
        for i, topic in enumerate(topics)
    ]
    headers = {"Authorization": api.headers["Authorization"], "Content-Type": "application/json"}
    cpu_before = cpu_seconds(bench.processes)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="crm-attack-") as workdir:
        sent = await asyncio.to_thread(
            attack,
            f"{bench.stack.gateway_url}/api/interactions",
            bodies,
            rate,
            headers=headers,
            workdir=Path(workdir),
        )
    lags_at_end = await group_lags(bench.kafka)
    accepted = [(SUBJECT + topics[s.index], s.started) for s in sent if s.status == 201]
    deadline = time.monotonic() + DRAIN_SECONDS
    while True:
        arrivals = bench.arrivals()
        if all(s in arrivals for s, _ in accepted) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    cpu_after = cpu_seconds(bench.processes)
    elapsed = time.monotonic() - started
    counts = bench.count_by_subject()
    e2e = [arrivals[s] - t for s, t in accepted if s in arrivals]
    api_times = [s.seconds for s in sent]
    behind = {g: lag for g, lag in lags_at_end.items() if lag > BEHIND_SECONDS * rate}
    result = {
        "rate": rate,
        "seconds": seconds,
        "sent": count,
        "accepted": len(accepted),
        "mailed": sum(1 for s, _ in accepted if s in arrivals),
        "duplicates": sum(counts.get(s, 0) - 1 for s, _ in accepted if counts.get(s, 0) > 1),
        "api": summary("API call (201 returned)", api_times),
        "e2e": summary("API call → mail accepted", e2e),
        "lag_at_end": lags_at_end,
        "behind": behind,
        "cpu_ms": {name: (cpu_after[name] - cpu_before[name]) * 1000 / count for name in cpu_after},
        "elapsed": elapsed,
    }
    result["held"] = (
        result["accepted"] == count
        and result["mailed"] == count
        and result["duplicates"] == 0
        and percentile([v * 1000 for v in e2e], 99) <= p99_ms
        and not behind
    )
    return result


async def floors(bench: BenchStack, rate: float, seconds: float, pool: int) -> dict[str, Any]:
    count = int(rate * seconds)
    kafka = summary(
        "floor: aiokafka produce → consume", await kafka_floor(bench.kafka, rate, count)
    )
    smtp = summary(
        f"floor: bare SMTP over {pool} connections",
        await smtp_floor(bench.sink.port, rate, count, connections=pool),
    )
    return {"kafka": kafka, "smtp": smtp}


def show(result: dict[str, Any], floor: dict[str, Any], idle: dict[str, float]) -> None:
    held = "HELD" if result["held"] else "not held"
    print(
        f"\n=== {result['rate']:g}/s for {result['seconds']:g} s: {held} — sent {result['sent']}, "
        f"accepted {result['accepted']}, mailed {result['mailed']}, "
        f"duplicates {result['duplicates']}",
        flush=True,
    )
    print(f"{'measure':42} {'n':>6} {'p50 ms':>9} {'p99 ms':>9}")
    rows = [result["e2e"], result["api"], floor["kafka"], floor["smtp"]]
    for row in rows:
        print(f"{row['name']:42} {row['n']:>6} {row['p50_ms']:>9.1f} {row['p99_ms']:>9.1f}")
    floor_p50 = floor["kafka"]["p50_ms"] + floor["smtp"]["p50_ms"]
    floor_p99 = floor["kafka"]["p99_ms"] + floor["smtp"]["p99_ms"]
    print(f"{'floor (kafka + smtp)':42} {'':>6} {floor_p50:>9.1f} {floor_p99:>9.1f}")
    print(
        f"ratio to the floor: p50 {result['e2e']['p50_ms'] / floor_p50:.1f}x, "
        f"p99 {result['e2e']['p99_ms'] / floor_p99:.1f}x"
    )
    print(
        "lag at the end of the sending: "
        + ", ".join(f"{g} {lag}" for g, lag in sorted(result["lag_at_end"].items()))
    )
    if result["behind"]:
        print(f"behind (more than {BEHIND_SECONDS:g} s of input): {result['behind']}")
    cpu = result["cpu_ms"]
    total = sum(cpu.values())
    idle_share = {n: idle.get(n, 0.0) * result["elapsed"] / result["sent"] for n in cpu}
    print(
        "CPU ms per interaction (from the first request until the last mail), and of it "
        "what the process spends idle as long:"
    )
    for name, ms in sorted(cpu.items(), key=lambda item: -item[1]):
        print(f"  {name:14} {ms:7.2f}  idle {idle_share[name]:6.2f}")
    print(
        f"  {'all':14} {total:7.2f}  idle {sum(idle_share.values()):6.2f}"
        f"  → these 2 cores hold at most ~{2000 / total:.0f}/s at this cost"
    )


def ceilings(cpu: dict[str, float]) -> None:
    """What each process could take alone on a core of its own (Kafka and PostgreSQL use
    several threads or processes; their figure is per core they get)."""
    print("\non cores of their own (1,000 ms of CPU a second each; the bench's own client apart):")
    for name, ms in sorted(cpu.items(), key=lambda item: -item[1]):
        if name == "bench" or ms <= 0:
            continue
        kind = "one core" if name in SINGLE_THREADED else "per core"
        print(f"  {name:14} {1000 / ms:8.0f}/s ({kind})")
    limit = min(
        (1000 / ms, name) for name, ms in cpu.items() if name in SINGLE_THREADED - {"bench"} and ms
    )
    print(f"  → with a core per process, {limit[1]} limits it at ~{limit[0]:.0f}/s")


async def run(args: argparse.Namespace, bench: BenchStack) -> list[dict[str, Any]]:
    api, contacts = await prepare(bench, args.contacts)
    results: list[dict[str, Any]] = []
    try:
        await one_mail(api, bench, contacts[0], f"warm-{uuid.uuid4().hex[:6]}")
        await caught_up(bench.kafka)  # the contacts' events taken in: idle is idle
        idle = await idle_cpu(bench, args.idle_seconds)
        print(
            "idle CPU ms a second: "
            + ", ".join(f"{n} {ms:.0f}" for n, ms in sorted(idle.items(), key=lambda i: -i[1])),
            flush=True,
        )

        async def at(rate: float) -> dict[str, Any]:
            result = await step(api, bench, contacts, rate, args.seconds, args.p99_ms)
            floor = await floors(bench, rate, min(args.seconds, args.floor_seconds), args.smtp_pool)
            result["floor"] = floor
            result["idle_cpu_ms_per_s"] = idle
            show(result, floor, idle)
            results.append(result)
            await asyncio.sleep(3)  # the next step starts on a quiet stack
            return result

        if args.rates:
            for rate in args.rates:
                await at(rate)
            return results
        rate, held, failed = args.start, None, None
        while rate <= args.max:
            if (await at(rate))["held"]:
                held = rate
                rate *= args.factor
            else:
                failed = rate
                break
        for _ in range(args.refine if held and failed else 0):
            middle = round((held + failed) / 2)  # type: ignore[operator]
            if middle in (held, failed):
                break
            if (await at(middle))["held"]:
                held = middle
            else:
                failed = middle
        return results
    finally:
        await api.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--start", type=float, default=25.0)
    parser.add_argument("--factor", type=float, default=2.0)
    parser.add_argument("--max", type=float, default=4000.0)
    parser.add_argument("--refine", type=int, default=2)
    parser.add_argument("--rates", type=lambda v: [float(r) for r in v.split(",")])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--floor-seconds", type=float, default=20.0)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--p99-ms", type=float, default=1000.0)
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--smtp-pool", type=int, default=4, help="CRM_NOTIFIER_SMTP_POOL_SIZE")
    args = parser.parse_args()
    env = {"CRM_NOTIFIER_SMTP_POOL_SIZE": str(args.smtp_pool)}
    with bench_stack("crm-throughput-", env) as bench:
        results = asyncio.run(run(args, bench))
    held = [r for r in results if r["held"]]
    print("\n=== summary")
    for r in results:
        print(
            f"  {r['rate']:>7g}/s  {'held' if r['held'] else 'not held':9} "
            f"e2e p99 {r['e2e']['p99_ms']:9.1f} ms  "
            f"CPU {sum(r['cpu_ms'].values()):7.2f} ms/interaction"
        )
    if held:
        best = max(held, key=lambda r: r["rate"])
        print(f"highest rate held: {best['rate']:g}/s (goal ≥ 1,000/s)")
        ceilings(best["cpu_ms"])
    else:
        print("no rate held")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "throughput.json").write_text(json.dumps(results, indent=2))
    sys.exit(0)


if __name__ == "__main__":
    main()
