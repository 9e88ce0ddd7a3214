"""Personal data through the gateway (SPEC §8, CONTRACT "Whole-API documents and limits",
issue 19): the export of one contact holds what every service keeps about it; after the
permanent delete it is a 404 and no table of any service, nor a Redis key, holds a trace
of the person's name, email or phone; the audit trail keeps who did what, without them.

Kafka keeps the events by design (its retention bounds them, README "Personal data").
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from datetime import date, timedelta
from email.message import Message
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis
from sqlalchemy.engine import make_url

from crm_dev.stack import Stack
from crm_dev.testing import Mailbox
from crm_dev.testkit import Kit


def body_of(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def login_token(message: Message) -> str | None:
    match = re.search(r"/portal/login\?token=([A-Za-z0-9_\-]+)", body_of(message))
    return match.group(1) if match else None


class Person:
    """A contact whose name, email and phone appear nowhere else in the test stack."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:10]
        self.name = f"Zora Zettel{tag}"
        self.email = f"zora.{tag}@example.com"
        self.phone = f"+49 151 {int(tag, 16) % 10**9:09d}"

    @property
    def needles(self) -> list[str]:
        return [self.name, self.email, self.phone]


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def a_contact_in_every_service(
    api: httpx.AsyncClient, stack: Stack, mail: Mailbox, kit: type[Kit], person: Person
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The contact and the staff member it is assigned to, with data in every service: a
    group, a history entry and a mailing, interactions (one from the portal), a
    procedure, a campaign, an opportunity, reminders, mails and notifications. Staff
    write the name into free texts too, as they do."""
    staff = await kit.new_staff(api)
    contact = await ok(
        await api.post(
            "/api/contacts",
            json={
                "kind": "person",
                "name": person.name,
                "email": person.email,
                "phone": person.phone,
                "crm": {"comment1": f"Kontakt {person.name}"},
                "assignment": {"mode": "staff", "staff_id": staff["id"]},
            },
        ),
        201,
    )
    cid = contact["id"]
    await ok(
        await api.post(
            "/api/groups", json={"name": "PD Gruppe", "kind": "static", "contact_ids": [cid]}
        ),
        201,
    )
    await ok(
        await api.post(f"/api/contacts/{cid}/history", json={"text": f"Anruf {person.name}"}),
        201,
    )
    follow_up = (date.today() + timedelta(days=30)).isoformat()
    await ok(
        await api.post(
            "/api/interactions",
            json={
                "contact_id": cid,
                "topic": f"Angebot für {person.name}",
                "kind": "outgoing",
                "text": f"Rückruf unter {person.phone}",
                "follow_up_on": follow_up,
            },
        ),
        201,
    )
    await ok(
        await api.post(
            "/api/procedures",
            json={
                "contact_id": cid,
                "type": "call",
                "direction": "outgoing",
                "state": "planned",
                "starts_at": f"{follow_up}T09:00:00+00:00",
                "duration_minutes": 0,
                "reminder": True,
                "subject": f"Nachfassen {person.name}",
            },
        ),
        201,
    )
    campaign = await ok(
        await api.post(
            "/api/campaigns",
            json={"name": f"PD {uuid.uuid4().hex[:6]}", "starts_on": "2026-01-01",
                  "ends_on": "2030-12-31"},
        ),
        201,
    )  # fmt: skip
    await ok(
        await api.post(f"/api/campaigns/{campaign['id']}/members", json={"contact_ids": [cid]})
    )
    await kit.allow_crm_values(api, opportunity_statuses=["Bedarf ermittelt"])
    await ok(
        await api.post(
            "/api/opportunities",
            json={
                "contact_id": cid,
                "title": f"Lizenzen {person.name}",
                "crm_status": "Bedarf ermittelt",
                "closing_probability": 40,
                "revenue_potential": "1200.00",
            },
        ),
        201,
    )
    mailing = await ok(
        await api.post(
            "/api/history/mailings",
            json={
                "selection": {"contact_ids": [cid]},
                "subject": "Hallo {{ name }}",
                "body": "Ihre Adresse: {{ email }}",
            },
        ),
        202,
    )

    async def job_done() -> bool:
        job = await ok(await api.get(f"/api/jobs/{mailing['job_id']}"))
        return bool(job["state"] == "done")

    await kit.eventually(job_done, "the mailing job done", timeout=30)
    async with httpx.AsyncClient(base_url=stack.gateway_url) as browser:

        async def link_mailed() -> str | None:
            answer = await browser.post("/portal/api/login-link", json={"email": person.email})
            assert answer.status_code == 202
            tokens = [login_token(m) for m in mail.wait_for(person.email, timeout=1)]
            return next((t for t in tokens if t), None)

        token = await kit.eventually(link_mailed, "the login link mail", timeout=20)
        await ok(await browser.get("/portal/api/session", params={"token": token}))
        await ok(
            await browser.post(
                "/portal/api/messages",
                json={"topic": "Frage", "text": f"Hier {person.name}, {person.phone}"},
            ),
            201,
        )
    return contact, staff


EXPECTED = {  # how many of each the contact has in every service's part, at least
    "history": 2,  # the entry and the mailing's
    "timeline": 6,
    "interactions": 2,  # the outgoing one and the portal message
    "procedures": 1,
    "portal_sessions": 1,
    "campaigns": 1,
    "opportunities": 1,
    "reminders": 2,  # the follow-up's and the procedure's
    "emails": 4,  # the outgoing interaction, the mailing, the login link, the portal reply
    "notifications": 2,  # the assignment, the portal message
    "groups": 1,
}


async def traces_in_postgres(url: str, needles: list[str]) -> list[str]:
    """``database.table`` of every row of every table holding one of ``needles`` in any
    column (the whole row as text: text, JSON, arrays alike)."""
    parsed = make_url(url)
    conn = await asyncpg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        database=parsed.database,
    )
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
        found = []
        for (table,) in tables:
            for needle in needles:
                hits = await conn.fetchval(
                    f'SELECT count(*) FROM "{table}" AS r WHERE r::text ILIKE $1',  # noqa: S608
                    f"%{needle}%",
                )
                if hits:
                    found.append(f"{parsed.database}.{table}: {needle} ({hits} rows)")
        return found
    finally:
        await conn.close()


def traces_in_sqlite(path: str, needles: list[str]) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        tables = [
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        found = []
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):  # noqa: S608
                text = " ".join(str(value) for value in row).lower()
                found += [f"{path}:{table}: {n}" for n in needles if n.lower() in text]
        return found
    finally:
        conn.close()


async def traces_in_redis(url: str, needles: list[str]) -> list[str]:
    client = aioredis.from_url(url)
    try:
        found = []
        async for key in client.scan_iter(count=1000):
            text = key.decode(errors="replace").lower()
            found += [f"redis {text}" for n in needles if n.lower() in text]
        return found
    finally:
        await client.aclose()


async def traces(stack: Stack, needles: list[str]) -> list[str]:
    """Where in the stack's stores (every service's database, Redis) a needle is."""
    found: list[str] = []
    for url in stack.config.database_urls.values():
        found += await traces_in_postgres(url, needles)
    notifier_db = stack.config.data_dir / "notifier.db"  # the notifier's embedded default
    assert notifier_db.exists()
    found += traces_in_sqlite(str(notifier_db), needles)
    found += await traces_in_redis(stack.config.redis_url, needles)
    return found


async def test_the_export_holds_everything_and_a_delete_forgets_the_person_everywhere(
    api: httpx.AsyncClient, stack: Stack, mail: Mailbox, kit: type[Kit]
) -> None:
    person = Person()
    contact, staff = await a_contact_in_every_service(api, stack, mail, kit, person)
    cid = contact["id"]
    url = f"/api/contacts/{cid}/personal-data"

    async def complete() -> dict[str, Any] | None:
        """The export, once the mails and notifications (which follow the writes
        asynchronously, beyond the consistency token) have all arrived."""
        document: dict[str, Any] = await ok(await api.get(url))
        short = {k: len(document[k]) for k, n in EXPECTED.items() if len(document[k]) < n}
        return None if short else document

    document = await kit.eventually(complete, "every part of the export", timeout=30)
    assert document["contact"]["name"] == person.name
    assert document["contact"]["phone"] == person.phone
    assert document["contact_id"] == cid
    for key in ("history", "interactions", "procedures", "opportunities", "reminders"):
        assert {item["contact_id"] for item in document[key]} == {cid}, key
    assert {e["recipient"] for e in document["emails"]} == {person.email}
    assert {e["status"] for e in document["emails"]} == {"sent"}
    assert {n["staff_id"] for n in document["notifications"]} == {staff["id"]}
    texts = {i["topic"] for i in document["interactions"]}
    assert texts == {f"Angebot für {person.name}", "Frage"}

    # admins only, the parts too
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {staff['token']}"}
    ) as crm_user:
        assert (await crm_user.get(url)).status_code == 403
        assert (await crm_user.get(f"{url}/history")).status_code == 403
    async with httpx.AsyncClient(base_url=stack.gateway_url) as anonymous:
        assert (await anonymous.get(url)).status_code == 401

    assert await traces(stack, person.needles), "the scan must see the person before"
    await ok(await api.delete(f"/api/contacts/{cid}"), 204)
    gone = await api.get(url)
    assert gone.status_code == 404 and gone.headers["content-type"].startswith(
        "application/problem+json"
    )

    async def forgotten() -> bool:
        return not await traces(stack, person.needles)

    try:
        await kit.eventually(forgotten, "no trace of the person in any store", 30, every=1)
    except AssertionError:
        raise AssertionError(f"left behind: {await traces(stack, person.needles)}") from None

    # the audit keeps the facts of the contact's life, the delete's too, not the person
    audit = await ok(await api.get("/api/audit", params={"contact_id": cid}))
    actions = [(item["action"], (item["actor"] or {}).get("name")) for item in audit["items"]]
    assert actions == [
        ("deleted", "Administrator"),
        ("assigned", "Administrator"),
        ("created", "Administrator"),
    ]


async def test_the_audit_says_who_changed_what_and_is_for_admins(
    api: httpx.AsyncClient, stack: Stack, kit: type[Kit]
) -> None:
    anna, bert = await kit.new_staff(api), await kit.new_staff(api)
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {anna['token']}"}
    ) as as_anna:
        contact = await ok(
            await as_anna.post("/api/contacts", json={"kind": "person", "name": "Audit Anna"}),
            201,
        )
        cid = contact["id"]
        await ok(await as_anna.patch(f"/api/contacts/{cid}", json={"phone": "+49 1"}))
        await ok(
            await as_anna.post(
                f"/api/contacts/{cid}/status", json={"status": "customer", "confirm": True}
            )
        )
        assert (await as_anna.get("/api/audit", params={"contact_id": cid})).status_code == 403
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {bert['token']}"}
    ) as as_bert:
        await ok(
            await as_bert.patch(
                f"/api/contacts/{cid}",
                json={"assignment": {"mode": "staff", "staff_id": bert["id"]}},
            )
        )
        await ok(await as_bert.delete(f"/api/contacts/{cid}"), 204)

    async def trail() -> list[tuple[str, str | None, dict[str, Any]]] | None:
        page = await ok(await api.get("/api/audit", params={"contact_id": cid}))
        rows = [(i["action"], (i["actor"] or {}).get("name"), i["detail"]) for i in page["items"]]
        return rows if rows and rows[0][0] == "deleted" else None

    rows = await kit.eventually(trail, "the audit trail up to the delete", timeout=20)
    assert [(action, who) for action, who, _ in rows] == [
        ("deleted", bert["name"]),
        ("assigned", bert["name"]),
        ("updated", bert["name"]),
        ("status", anna["name"]),
        ("updated", anna["name"]),
        ("created", anna["name"]),
    ]
    assert rows[3][2] == {"old_status": "prospect", "status": "customer"}
    assert rows[4][2] == {"changed": ["phone"]}
    everything = await ok(await api.get("/api/audit", params={"limit": 500}))
    assert cid in {item["contact_id"] for item in everything["items"]}
