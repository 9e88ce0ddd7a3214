"""A dynamic group over 10,000 contacts selected by a CRM property: a bulk history entry
and a mailing take exactly its members, resolved by the contacts service when each job
starts, through the gateway on PostgreSQL.

Runs after the other tests (``after_everything``): its 10,000 mails keep the notifier busy
for minutes, which would hold up every later test waiting for a mail. The mailing is
counted where this service's responsibility ends, in the ``EmailRequested`` events it
wrote (each to the contact's address); sending them is the notifier's, tested elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import pytest

from crm_dev.stack import Stack
from crm_dev.testing import read_all
from crm_shared.events import Topic, derived_event_id

CONTACTS = 10_000


async def ok(response: Any, status: int = 200) -> Any:
    answer = await response
    assert answer.status_code == status, answer.text[:2000]
    return answer.json()


async def settled(call: Any) -> httpx.Response:
    for _ in range(60):
        response: httpx.Response = await call()
        if response.status_code != 503:
            return response
        await asyncio.sleep(0.5)
    return response


async def finished(api: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    while True:
        job: dict[str, Any] = await ok(api.get(f"/api/jobs/{job_id}"))
        if job["state"] != "running":
            return job
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.5)


async def run_job(api: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Start a job and wait until it is no longer running; prints how long it took."""
    started = time.monotonic()
    accepted = await ok(api.post(path, json=body), 202)
    job = await finished(api, accepted["job_id"])
    print(f"{path} for {job['total']:,}: {time.monotonic() - started:.1f} s")
    return job


async def all_pages(api: httpx.AsyncClient, path: str, params: dict[str, Any]) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = await settled(
            lambda cursor=cursor: api.get(
                path, params={**params, "limit": 500, **({"cursor": cursor} if cursor else {})}
            )
        )
        assert page.status_code == 200, page.text
        body = page.json()
        ids += [c["id"] for c in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids


async def requested_mails(
    bootstrap: str, request_ids: set[str], *, within: float = 60.0
) -> dict[str, str]:
    """request id → recipient of the EmailRequested events among ``request_ids``, read
    until all of them are on the topic or ``within`` seconds passed: a job is done when
    its last batch committed, and the outbox relay publishes its events right after."""
    deadline = time.monotonic() + within
    while True:
        found: dict[str, str] = {}
        for record in await read_all(bootstrap, [Topic.NOTIFICATIONS.value]):
            if b"EmailRequested" in record.value:
                data = json.loads(record.value)["data"]
                if data["request_id"] in request_ids:
                    found[data["request_id"]] = data["recipient"]
        if len(found) >= len(request_ids) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(1)


@pytest.mark.after_everything(1)
async def test_dynamic_group_of_10000_gets_exactly_its_entries_and_mails(
    api: httpx.AsyncClient, stack: Stack, kit: Any
) -> None:
    api.timeout = httpx.Timeout(120)
    tag = uuid.uuid4().hex[:10]
    industry = f"Branche {tag}"
    await kit.allow_crm_values(api, company_groups=[industry, f"Andere {tag}"])
    rows = [
        f"company,Firma {tag} {i},info{i}@{tag}.example,"
        f"{industry if i < CONTACTS else f'Andere {tag}'}\n"
        for i in range(CONTACTS + 50)  # 50 of another industry: not in the group
    ]
    csv = ("kind,name,email,crm.company_group\n" + "".join(rows)).encode()
    imported = await ok(
        api.post("/api/contacts/import", content=csv, headers={"Content-Type": "text/csv"})
    )
    assert imported == {"created": CONTACTS + 50, "errors": []}

    selection = {"filter": {"company_group": industry}}
    group = await ok(
        api.post(
            "/api/groups",
            json={"name": f"Alle {industry}", "kind": "dynamic", "filter": selection["filter"]},
        ),
        201,
    )
    # imported contacts are in the inbox: limited, so every one is skipped ...
    by_group = {"group_id": group["id"]}
    job = await run_job(api, "/api/history/bulk", {"selection": by_group, "entry": {"text": "-"}})
    assert (job["state"], job["total"], job["skipped"]) == ("done", CONTACTS, CONTACTS)
    # ... until they are accepted
    accepted = await ok(
        api.post("/api/contacts/bulk", json={"selection": selection, "action": "accept"})
    )
    assert (accepted["selected"], accepted["changed"]) == (CONTACTS, CONTACTS)

    marker = f"bulk-{tag}"
    entry = {"selection": by_group, "entry": {"field1": marker}}
    job = await run_job(api, "/api/history/bulk", entry)
    assert (job["state"], job["total"], job["done"], job["skipped"]) == (
        "done",
        CONTACTS,
        CONTACTS,
        0,
    )
    members = set(await all_pages(api, f"/api/groups/{group['id']}/members", {}))
    assert len(members) == CONTACTS
    written = set(await all_pages(api, "/api/contacts", {"history.field1": marker}))
    assert written == members, "exactly the group's members have the entry"

    started = time.monotonic()
    sent = await ok(
        api.post(
            "/api/history/mailings",
            json={
                "selection": {"group_id": group["id"]},
                "subject": "Angebot für {{ name }}",
                "body": "Guten Tag {{ name }}",
            },
        ),
        202,
    )
    job = await finished(api, sent["job_id"])
    print(f"mailing to {CONTACTS}: {time.monotonic() - started:.1f} s")
    assert (job["state"], job["total"], job["done"], job["skipped"]) == (
        "done",
        CONTACTS,
        CONTACTS,
        0,
    )
    wanted = {derived_event_id("history", "mailing", sent["job_id"], c): c for c in members}
    mails = await requested_mails(stack.config.kafka_bootstrap, set(wanted))
    assert len(mails) == CONTACTS, "one EmailRequested per member, no more"
    assert all(recipient.endswith(f"@{tag}.example") for recipient in mails.values())
