"""A seed-000 mailing to many contacts, until the mail server accepted the last mail.

Starts real servers (or those the environment names), a recording SMTP sink and every
service on PostgreSQL, imports ``--contacts`` (100,000) contacts and accepts them out of
the inbox, then sends one mailing to all of them (``POST /api/history/mailings`` with a
``{filter}`` selection: resolved by the contacts service, written by the history job as
``EmailRequested`` events, sent by the notifier over its SMTP pool). It measures from the
request to the moment the sink accepted the last mail, checks that every contact got
exactly one, and prints the job's progress as it goes.

Beside it, in the same run: the floor, bare SMTP sends of as many mails over as many
connections as the notifier's pool, as fast as the server takes them. Goal: ≤ 60 s and
≤ 1.5x the floor.

    uv run --frozen python bench/mailing.py [--contacts 100000] [--smtp-pool 8]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import time
import uuid
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
from benchkit import ADMIN_PASSWORD, BenchStack, Recipients, bench_stack, caught_up, cpu_seconds


async def contacts(api: httpx.AsyncClient, count: int, run: str) -> None:
    """``count`` contacts named after ``run``, in chunks of 20,000 rows, out of the inbox."""
    chunk = 20_000
    for start in range(0, count, chunk):
        csv = io.StringIO()
        csv.write("kind,name,email\n")
        for i in range(start, min(count, start + chunk)):
            csv.write(f"person,Mailing {run} {i},m{run}-{i}@example.com\n")
        response = await api.post(
            "/api/contacts/import",
            content=csv.getvalue().encode(),
            headers={"content-type": "text/csv"},
            timeout=600,
        )
        response.raise_for_status()
    accepted = await api.post(
        "/api/contacts/bulk",
        json={"selection": {"filter": {"q": f"Mailing {run}"}}, "action": "accept"},
        timeout=600,
    )
    accepted.raise_for_status()


async def mailing(bench: BenchStack, count: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=bench.stack.gateway_url, timeout=60) as api:
        token = (
            await api.post(
                "/api/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD}
            )
        ).json()["access_token"]
        api.headers["Authorization"] = f"Bearer {token}"
        run = uuid.uuid4().hex[:6]
        began = time.monotonic()
        await contacts(api, count, run)
        print(
            f"{count} contacts imported and accepted in {time.monotonic() - began:.1f} s",
            flush=True,
        )
        await caught_up(bench.kafka)  # the import's events are taken in before the clock starts
        await asyncio.sleep(2)  # and the last of them written by the outbox relays
        await caught_up(bench.kafka)
        print(f"consumers caught up after {time.monotonic() - began:.1f} s", flush=True)
        cpu_before = cpu_seconds(bench.processes)
        started = time.time()
        response = await api.post(
            "/api/history/mailings",
            json={
                "selection": {"filter": {"q": f"Mailing {run}"}},
                "subject": "Unser Angebot für {{ name }}",
                "body": "Guten Tag {{ name }},\n\nunser Angebot …\n",
            },
        )
        response.raise_for_status()
        job_id = response.json()["job_id"]
        wanted = {f"m{run}-{i}@example.com" for i in range(count)}
        last_shown = 0.0
        job: dict[str, Any] = {}
        recipients = Recipients(bench)
        while True:
            arrived = recipients.poll()
            got = wanted & arrived.keys()
            if time.monotonic() - last_shown > 5:
                job = (await api.get(f"/api/jobs/{job_id}")).json()
                print(
                    f"  {time.time() - started:6.1f} s: job {job.get('state')} "
                    f"{job.get('done')}/{job.get('total')}, mails accepted {len(got)}",
                    flush=True,
                )
                last_shown = time.monotonic()
            if len(got) == count or time.time() - started > 1800:
                break
            await asyncio.sleep(1.0)
        cpu_after = cpu_seconds(bench.processes)
        last = max(min(arrived[r]) for r in got) if got else started
        return {
            "contacts": count,
            "mailed": len(got),
            "duplicates": sum(len(arrived[r]) - 1 for r in got),
            "seconds": last - started,
            "job": job,
            "cpu_s": {n: cpu_after[n] - cpu_before[n] for n in cpu_after},
        }


async def floor(port: int, count: int, connections: int) -> float:
    """Seconds for ``count`` bare SMTP sends over ``connections`` connections, each
    sending as fast as the server answers."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def sender() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
        await smtp.connect()
        try:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                message = (
                    f"From: crm@example.com\r\nTo: f{i}@example.com\r\n"
                    f"Subject: Unser Angebot =?utf-8?q?f=C3=BCr?= Kunde {i}\r\n"
                    f"\r\nGuten Tag Kunde {i},\r\n"
                )
                await smtp.sendmail("crm@example.com", [f"f{i}@example.com"], message.encode())
        finally:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await smtp.quit()

    started = time.monotonic()
    await asyncio.gather(*(sender() for _ in range(connections)))
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--smtp-pool", type=int, default=4, help="CRM_NOTIFIER_SMTP_POOL_SIZE")
    args = parser.parse_args()
    env = {"CRM_NOTIFIER_SMTP_POOL_SIZE": str(args.smtp_pool)}
    with bench_stack("crm-mailing-", env) as bench:
        result = asyncio.run(mailing(bench, args.contacts))
        floor_seconds = asyncio.run(floor(bench.sink.port, args.contacts, args.smtp_pool))
    result["floor_seconds"] = floor_seconds
    print(
        f"\nmailing to {result['contacts']:,} contacts: {result['mailed']:,} mailed, "
        f"{result['duplicates']} duplicates, last mail accepted after {result['seconds']:.1f} s "
        f"(goal ≤ 60 s)"
    )
    print(
        f"floor: {args.contacts:,} bare SMTP sends over {args.smtp_pool} connections "
        f"{floor_seconds:.1f} s; ratio {result['seconds'] / floor_seconds:.2f}x (goal ≤ 1.5x)"
    )
    print("CPU seconds during the mailing:")
    for name, seconds in sorted(result["cpu_s"].items(), key=lambda item: -item[1]):
        print(f"  {name:14} {seconds:7.1f}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "mailing.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
