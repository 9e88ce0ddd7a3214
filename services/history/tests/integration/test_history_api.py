"""The history service through the gateway only (real Kafka, PostgreSQL/SQLite, SMTP).

Events of services not built on this branch (groups, campaigns) are published directly
to Kafka as the contract defines them: a real integration test of the consumers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from email.header import decode_header, make_header
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from crm_dev.stack import Stack
from crm_dev.testing import Mailbox, read_topic
from crm_dev.testkit import eventually
from crm_shared.events import (
    CampaignMemberAdded,
    CampaignMemberRemoved,
    CampaignRetired,
    EventData,
    make_event,
)
from crm_shared.kafka import EventProducer

SETTINGS = {
    "actions": ["Beschwerde", "Rückruf", "Mailing", "Prospekt angefordert"],
    "infos": ["5% Rabatt", "Geschenk erhalten", "Infoabend"],
    "field_labels": {
        "field1": "Prospekt",
        "field2": "Geschenk",
        "field3": "Abend",
        "field4": "Notiz",
        "field5": "Teilgenommen",
        "field6": "Rückmeldung",
    },
}


def unique_email() -> str:
    return f"hist-{uuid.uuid4().hex[:12]}@example.com"


async def put_settings(api: httpx.AsyncClient) -> None:
    response = await api.put("/api/history/settings", json=SETTINGS)
    assert response.status_code == 200, response.text


async def create_contact(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    """A contact, once the history service has its ContactCreated (events may lag behind
    a burst of earlier tests' events, e.g. a CSV import)."""
    body = {"kind": "person", "name": "Erika Mustermann", "email": unique_email(), **fields}
    response = await api.post("/api/contacts", json=body)
    assert response.status_code == 201, response.text
    contact: dict[str, Any] = response.json()
    await wait_known(api, contact["id"], timeout=60)
    return contact


async def wait_known(api: httpx.AsyncClient, contact_id: str, timeout: float = 15) -> None:
    """Until the history service has the contact (its ContactCreated timeline item)."""

    async def known() -> bool:
        response = await api.get(f"/api/contacts/{contact_id}/timeline")
        return response.status_code == 200 and any(
            i["type"] == "contact" for i in response.json()["items"]
        )

    await eventually(known, f"history learns of contact {contact_id}", timeout)


async def publish(bootstrap: str, *events: EventData, source: str) -> None:
    producer = EventProducer(bootstrap, client_id="test")
    await producer.start()
    try:
        for data in events:
            await producer.publish(data.kafka_topic, make_event(data, source=source))
    finally:
        await producer.stop()


async def job_state(api: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    response = await api.get(f"/api/jobs/{job_id}")
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


async def wait_job(
    api: httpx.AsyncClient, job_id: str, timeout: float = 30, every: float = 0.1
) -> dict[str, Any]:
    """The job once it is no longer running."""

    async def finished() -> dict[str, Any] | None:
        job = await job_state(api, job_id)
        return job if job["state"] != "running" else None

    job: dict[str, Any] = await eventually(finished, f"job {job_id} finished", timeout, every)
    return job


async def group_of(api: httpx.AsyncClient, contact_ids: list[str]) -> str:
    """A static group of the contacts service (which resolves it when a job starts)."""
    response = await api.post(
        "/api/groups", json={"name": "Messe 2026", "contact_ids": contact_ids}
    )
    assert response.status_code == 201, response.text
    group_id: str = response.json()["id"]
    return group_id


async def history(api: httpx.AsyncClient, contact_id: str, **params: Any) -> dict[str, Any]:
    response = await api.get(f"/api/contacts/{contact_id}/history", params=params)
    assert response.status_code == 200, response.text
    return response.json()


# --- settings and entries (both databases) --------------------------------------------


async def test_settings_are_kept_and_only_admins_change_them(
    any_api: httpx.AsyncClient,
) -> None:
    await put_settings(any_api)
    response = await any_api.get("/api/history/settings")
    assert response.json() == SETTINGS

    bad = await any_api.put(
        "/api/history/settings", json={**SETTINGS, "field_labels": {"field7": "x"}}
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert any(e["field"].startswith("field_labels") for e in bad.json()["errors"])
    dupes = await any_api.put("/api/history/settings", json={**SETTINGS, "actions": ["A", "A"]})
    assert dupes.status_code == 422

    username = f"user{uuid.uuid4().hex[:8]}"
    created = await any_api.post(
        "/api/staff",
        json={"username": username, "password": "secret-pw-1", "name": "Uwe", "initials": "UW"},
    )
    assert created.status_code == 201, created.text
    token = (
        await any_api.post(
            "/api/auth/token", json={"username": username, "password": "secret-pw-1"}
        )
    ).json()["access_token"]
    user = {"Authorization": f"Bearer {token}"}
    assert (await any_api.get("/api/history/settings", headers=user)).status_code == 200
    refused = await any_api.put("/api/history/settings", json=SETTINGS, headers=user)
    assert refused.status_code == 403


async def test_action_and_info_must_come_from_the_pick_lists(any_api: httpx.AsyncClient) -> None:
    await put_settings(any_api)
    contact = await create_contact(any_api)
    url = f"/api/contacts/{contact['id']}/history"

    response = await any_api.post(url, json={"action": "Erfunden"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "action"
    response = await any_api.post(url, json={"action": "Beschwerde", "info": "10% Rabatt"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "info"
    response = await any_api.post(url, json={"action": "Beschwerde", "field5": "vielleicht"})
    assert response.status_code == 422

    ok = await any_api.post(url, json={"action": "Beschwerde", "info": "5% Rabatt"})
    assert ok.status_code == 201, ok.text
    entry_id = ok.json()["id"]
    patch = await any_api.patch(f"/api/history/{entry_id}", json={"info": "Gibt es nicht"})
    assert patch.status_code == 422
    assert patch.json()["errors"][0]["field"] == "info"
    # nothing half-written: the entry is unchanged and the only one
    page = await history(any_api, contact["id"])
    assert page["total"] == 1
    assert page["items"][0]["info"] == "5% Rabatt"


async def test_entries_page_one_by_one_newest_first(any_api: httpx.AsyncClient) -> None:
    await put_settings(any_api)
    contact = await create_contact(any_api)
    url = f"/api/contacts/{contact['id']}/history"
    first = await any_api.post(
        url,
        json={"date": "2026-01-10", "action": "Prospekt angefordert", "field1": "Katalog"},
    )
    assert first.status_code == 201, first.text
    second = await any_api.post(
        url, json={"action": "Rückruf", "info": "Infoabend", "field5": True, "text": "kommt"}
    )
    assert second.status_code == 201, second.text
    body = second.json()
    assert body["date"] == dt.datetime.now(ZoneInfo("Europe/Berlin")).date().isoformat()
    assert body["staff_initials"] == "ADM"  # the admin's initials, from the token
    assert body["created_by"]["name"]
    assert body["created_at"].endswith("+00:00") or body["created_at"].endswith("Z")

    one = await history(any_api, contact["id"], limit=1, offset=0)
    assert one["total"] == 2  # "1 von 2"
    assert [i["id"] for i in one["items"]] == [second.json()["id"]]
    two = await history(any_api, contact["id"], limit=1, offset=1)
    assert [i["id"] for i in two["items"]] == [first.json()["id"]]
    assert two["items"][0]["field1"] == "Katalog"
    assert (await history(any_api, contact["id"], limit=1, offset=2))["items"] == []

    changed = await any_api.patch(
        f"/api/history/{first.json()['id']}", json={"field6": True, "text": "nachgefasst"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["field6"] is True
    assert (await any_api.delete(f"/api/history/{second.json()['id']}")).status_code == 204
    assert (await any_api.delete(f"/api/history/{second.json()['id']}")).status_code == 404
    page = await history(any_api, contact["id"])
    assert page["total"] == 1
    assert page["items"][0]["text"] == "nachgefasst"

    unknown = await any_api.post(f"/api/contacts/{uuid.uuid4()}/history", json={})
    assert unknown.status_code == 404


async def test_entry_changes_are_events_on_crm_history(
    api: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    await put_settings(api)
    contact = await create_contact(api)
    created = await api.post(
        f"/api/contacts/{contact['id']}/history", json={"action": "Beschwerde", "field2": "Uhr"}
    )
    entry_id = created.json()["id"]
    await api.patch(f"/api/history/{entry_id}", json={"field3": "Herbst"})
    await api.delete(f"/api/history/{entry_id}")

    def is_event(name: str) -> Any:
        def match(record: Any) -> bool:
            value = json.loads(record.value)
            return value["type"] == f"crm.{name}.v1" and value["data"]["entry_id"] == entry_id

        return match

    for name in ("HistoryEntryCreated", "HistoryEntryUpdated", "HistoryEntryDeleted"):
        record = await read_topic(kafka_bootstrap, "crm.history", is_event(name), timeout=15)
        assert record is not None, name
        assert record.key.decode() == contact["id"]
    updated = await read_topic(
        kafka_bootstrap, "crm.history", is_event("HistoryEntryUpdated"), timeout=5
    )
    data = json.loads(updated.value)["data"]
    assert data["field2"] == "Uhr"
    assert data["field3"] == "Herbst"
    assert data["action"] == "Beschwerde"


# --- bulk entries and mailings ---------------------------------------------------------


async def test_bulk_entry_for_a_group_of_25_with_progress(
    api: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    await put_settings(api)
    contacts = [await create_contact(api, name=f"Gruppe {i:02d}") for i in range(25)]
    ids = [c["id"] for c in contacts]
    for contact_id in ids:
        await wait_known(api, contact_id)
    outsider = await create_contact(api, name="Nicht in der Gruppe")
    group_id = await group_of(api, ids)

    response = await api.post(
        "/api/history/bulk",
        json={
            "selection": {"group_id": group_id},
            "entry": {"action": "Prospekt angefordert", "field1": "Katalog 2026", "field5": True},
        },
    )
    assert response.status_code == 202, response.text
    job = await wait_job(api, response.json()["job_id"])
    assert job["state"] == "done"
    assert (job["total"], job["done"], job["skipped"]) == (25, 25, 0)

    for contact_id in ids:
        page = await history(api, contact_id)
        assert page["total"] == 1
        [entry] = page["items"]
        assert entry["action"] == "Prospekt angefordert"
        assert entry["field1"] == "Katalog 2026"
        assert entry["job_id"] == job["id"]
        assert entry["staff_initials"] == "ADM"
    assert (await history(api, outsider["id"]))["total"] == 0

    # every entry is an event: 25 HistoryEntryCreated with the job id
    seen: set[str] = set()

    def of_job(record: Any) -> bool:
        value = json.loads(record.value)
        if value["data"].get("job_id") == job["id"]:
            seen.add(value["data"]["entry_id"])
        return len(seen) == 25

    assert await read_topic(kafka_bootstrap, "crm.history", of_job, timeout=20) is not None


async def test_bulk_entry_by_ids_and_by_filter_and_bad_selections(
    any_api: httpx.AsyncClient,
) -> None:
    await put_settings(any_api)
    number = f"K-{uuid.uuid4().hex[:8]}"
    a = await create_contact(any_api, customer_number=number)
    b = await create_contact(any_api)
    by_ids = await any_api.post(
        "/api/history/bulk",
        json={"selection": {"contact_ids": [a["id"], b["id"]]}, "entry": {"info": "Infoabend"}},
    )
    assert by_ids.status_code == 202, by_ids.text
    assert (await wait_job(any_api, by_ids.json()["job_id"]))["done"] == 2

    by_filter = await any_api.post(
        "/api/history/bulk",
        json={"selection": {"filter": {"customer_number": number}}, "entry": {"text": "Filter"}},
    )
    assert by_filter.status_code == 202, by_filter.text
    job = await wait_job(any_api, by_filter.json()["job_id"])
    assert job["total"] == 1
    assert (await history(any_api, a["id"]))["total"] == 2
    assert (await history(any_api, b["id"]))["total"] == 1

    for selection, field in (
        ({"contact_ids": [str(uuid.uuid4())]}, "selection.contact_ids"),
        ({"filter": {"colour": "x"}}, "selection.filter.colour"),
        ({"group_id": str(uuid.uuid4())}, "selection.group_id"),
        ({"group_id": "g", "filter": {}}, "selection"),
    ):
        bad = await any_api.post("/api/history/bulk", json={"selection": selection, "entry": {}})
        assert bad.status_code == 422, bad.text
        assert any(e["field"] == field for e in bad.json()["errors"]), bad.json()
    bad_action = await any_api.post(
        "/api/history/bulk",
        json={"selection": {"contact_ids": [a["id"]]}, "entry": {"action": "Erfunden"}},
    )
    assert bad_action.status_code == 422
    assert bad_action.json()["errors"][0]["field"] == "entry.action"
    assert (await any_api.get(f"/api/jobs/{uuid.uuid4()}")).status_code == 404


async def test_mailing_to_a_group_of_five(
    api: httpx.AsyncClient, kafka_bootstrap: str, mail: Mailbox
) -> None:
    await put_settings(api)
    contacts = [
        await create_contact(api, name=f"Kunde {i}", customer_number=f"M-{uuid.uuid4().hex[:6]}")
        for i in range(5)
    ]
    no_mail = await create_contact(api, name="Ohne Adresse", email=None)
    ids = [c["id"] for c in contacts] + [no_mail["id"]]
    for contact_id in ids:
        await wait_known(api, contact_id)
    group_id = await group_of(api, ids)

    unknown = await api.post(
        "/api/history/mailings",
        json={"selection": {"group_id": group_id}, "subject": "Hallo", "body": "{{ vorname }}"},
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "body"
    assert "vorname" in unknown.json()["errors"][0]["message"]
    unsafe = await api.post(
        "/api/history/mailings",
        json={
            "selection": {"group_id": group_id},
            "subject": "{{ name.__class__.__mro__ }}",
            "body": "x",
        },
    )
    assert unsafe.status_code == 422
    assert unsafe.json()["errors"][0]["field"] == "subject"

    response = await api.post(
        "/api/history/mailings",
        json={
            "selection": {"group_id": group_id},
            "subject": "Einladung für {{ name }}",
            "body": "Hallo {{ name }},\nIhre Kundennummer: {{ customer_number }}\n",
            "entry": {"action": "Mailing", "info": "Infoabend"},
        },
    )
    assert response.status_code == 202, response.text
    job = await wait_job(api, response.json()["job_id"])
    assert (job["state"], job["total"], job["done"], job["skipped"]) == ("done", 6, 6, 1)

    for contact in contacts:
        [message] = mail.wait_for(contact["email"], timeout=15)
        subject = str(make_header(decode_header(message["Subject"])))
        assert subject == f"Einladung für {contact['name']}"
        assert contact["customer_number"] in message.get_payload(decode=True).decode()
        page = await history(api, contact["id"])
        assert page["total"] == 1
        assert (page["items"][0]["action"], page["items"][0]["info"]) == ("Mailing", "Infoabend")
    assert (await history(api, no_mail["id"]))["total"] == 0
    # once per contact, also later
    assert len(mail.wait_for(contacts[0]["email"], count=2, timeout=2)) == 1


# --- the CRM timeline ------------------------------------------------------------------


async def timeline(api: httpx.AsyncClient, contact_id: str, limit: int = 500) -> list[dict]:
    items: list[dict] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = await api.get(f"/api/contacts/{contact_id}/timeline", params=params)
        assert response.status_code == 200, response.text
        items += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if not cursor:
            return items


async def wait_timeline(
    api: httpx.AsyncClient, contact_id: str, count: int, timeout: float = 15
) -> list[dict]:
    """The timeline once it has ``count`` items."""

    async def grown() -> list[dict] | None:
        items = await timeline(api, contact_id)
        return items if len(items) >= count else None

    items: list[dict] = await eventually(grown, f"{count} timeline items", timeout)
    return items


async def test_timeline_keeps_campaign_items_after_retire_and_replay_rebuilds_it(
    api: httpx.AsyncClient, stack: Stack, kafka_bootstrap: str
) -> None:
    await put_settings(api)
    contact = await create_contact(api, name="Timeline Kunde")
    await wait_known(api, contact["id"])
    campaign_id = str(uuid.uuid4())
    name = f"Frühjahr {campaign_id[:4]}"
    await publish(
        kafka_bootstrap,
        CampaignMemberAdded(campaign_id=campaign_id, campaign_name=name, contact_id=contact["id"]),
        source="/crm/campaigns",
    )
    await wait_timeline(api, contact["id"], 2)
    entry = await api.post(
        f"/api/contacts/{contact['id']}/history", json={"action": "Rückruf", "info": "Infoabend"}
    )
    assert entry.status_code == 201
    await publish(
        kafka_bootstrap,
        CampaignRetired(campaign_id=campaign_id, name=name),
        CampaignMemberRemoved(
            campaign_id=campaign_id, campaign_name=name, contact_id=contact["id"]
        ),
        source="/crm/campaigns",
    )
    items = await wait_timeline(api, contact["id"], 4)
    summaries = [i["summary"] for i in items]
    assert summaries == [
        f"Kampagne „{name}“ nicht mehr zugeordnet",
        "Historieneintrag: Rückruf - Infoabend",
        f"Kampagne „{name}“ zugeordnet",
        "Kontakt angelegt (Interessent)",
    ], summaries
    assert [i["type"] for i in items] == ["campaign", "history", "campaign", "contact"]
    assert items[0]["source"] == "campaigns"
    assert items[0]["ref_id"] == campaign_id
    assert items[1]["ref_id"] == entry.json()["id"]
    assert [i["at"] for i in items] == sorted((i["at"] for i in items), reverse=True)
    # keyset pages of one give the same feed
    assert await timeline(api, contact["id"], limit=1) == items
    bad = await api.get(f"/api/contacts/{contact['id']}/timeline", params={"cursor": "??"})
    assert bad.status_code == 422

    # rebuild from the topics with a fresh consumer: the same timeline, twice over
    env = {
        **os.environ,
        **stack.service_env("history"),
    }
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "-m", "crm_history.replay"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert "replayed" in result.stdout
        assert not result.stdout.startswith("replayed 0 "), result.stdout
        assert await timeline(api, contact["id"]) == items


async def test_deleting_the_contact_erases_history_and_timeline(
    any_api: httpx.AsyncClient,
) -> None:
    await put_settings(any_api)
    contact = await create_contact(any_api)
    keep = await create_contact(any_api)
    for who in (contact, keep):
        created = await any_api.post(
            f"/api/contacts/{who['id']}/history", json={"action": "Beschwerde"}
        )
        assert created.status_code == 201
    entry_id = created.json()["id"]
    assert (await any_api.delete(f"/api/contacts/{contact['id']}")).status_code == 204

    async def erased() -> httpx.Response | None:
        response = await any_api.get(f"/api/contacts/{contact['id']}/history")
        return response if response.status_code == 404 else None

    response = await eventually(erased, "the contact's history erased", 15)
    assert response.status_code == 404
    assert (await any_api.get(f"/api/contacts/{contact['id']}/timeline")).status_code == 404
    refused = await any_api.post(f"/api/contacts/{contact['id']}/history", json={})
    assert refused.status_code == 404
    # other contacts keep theirs
    assert (await history(any_api, keep["id"]))["total"] == 1
    assert (await any_api.get(f"/api/history/{entry_id}")).status_code == 200


# --- crash safety ----------------------------------------------------------------------


def restart(stack: Stack, name: str, env: dict[str, str] | None = None) -> None:
    stack.kill(name)  # SIGKILL: no shutdown code runs
    stack.start(name, env).wait_ready(90)


async def test_bulk_job_killed_midway_resumes_without_duplicates(
    api: httpx.AsyncClient, stack: Stack, kafka_bootstrap: str
) -> None:
    await put_settings(api)
    ids = [(await create_contact(api, name=f"Absturz {i:02d}"))["id"] for i in range(25)]
    for contact_id in ids:
        await wait_known(api, contact_id)
    # batches of 10, and a long pause after each: the kill lands after the first batch
    restart(
        stack,
        "history",
        {"CRM_HISTORY_JOB_BATCH_SIZE": "10", "CRM_HISTORY_FAULT_JOB_PAUSE_SECONDS": "120"},
    )
    try:
        response = await api.post(
            "/api/history/bulk",
            json={"selection": {"contact_ids": ids}, "entry": {"text": "vor dem Absturz"}},
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]

        async def first_batch() -> dict[str, Any] | None:
            job = await job_state(api, job_id)
            return job if job["done"] >= 10 else None

        job = await eventually(first_batch, "the job's first batch", 30)
        assert (job["state"], job["done"]) == ("running", 10)
    finally:
        restart(stack, "history")  # kill mid-job; the normal start resumes it
    job = await wait_job(api, job_id, timeout=60)
    assert (job["state"], job["total"], job["done"]) == ("done", 25, 25)
    for contact_id in ids:
        assert (await history(api, contact_id))["total"] == 1

    # one event per entry: the relay may publish an event again after a restart (at
    # least once; consumers drop it by its id), but no entry gets a second event
    seen: dict[str, set[str]] = {}

    def of_job(record: Any) -> bool:
        value = json.loads(record.value)
        if value["data"].get("job_id") == job_id:
            seen.setdefault(value["data"]["entry_id"], set()).add(value["id"])
        return False  # read everything there is

    await read_topic(kafka_bootstrap, "crm.history", of_job, timeout=8)
    assert len(seen) == 25
    assert {len(ids) for ids in seen.values()} == {1}


async def test_a_paused_mailing_stays_paused_across_a_restart_and_resumes_once_each(
    api: httpx.AsyncClient, stack: Stack, kafka_bootstrap: str, mail: Mailbox
) -> None:
    """Issue 17: a mailing paused mid-way ends the batch it is in and takes no more (also
    after the service restarts), then resumed goes on from its cursor: every contact
    gets one mail and one entry."""
    await put_settings(api)
    contacts = [await create_contact(api, name=f"Pause {i:02d}") for i in range(25)]
    ids = [c["id"] for c in contacts]
    for contact_id in ids:
        await wait_known(api, contact_id)
    slow = {"CRM_HISTORY_JOB_BATCH_SIZE": "5", "CRM_HISTORY_FAULT_JOB_PAUSE_SECONDS": "2"}
    restart(stack, "history", slow)  # five batches of five, two seconds apart
    try:
        response = await api.post(
            "/api/history/mailings",
            json={
                "selection": {"contact_ids": ids},
                "subject": "Pause für {{ name }}",
                "body": "Hallo {{ name }}",
            },
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]

        async def under_way() -> dict[str, Any] | None:
            job = await job_state(api, job_id)
            return job if job["done"] >= 5 else None

        await eventually(under_way, "the mailing's first batch", 30)
        paused = await api.post(f"/api/jobs/{job_id}/pause")
        assert paused.status_code == 200, paused.text
        assert paused.json()["state"] == "paused"
        assert 5 <= paused.json()["done"] < 25
        again = await api.post(f"/api/jobs/{job_id}/pause")
        assert again.status_code == 409
        assert again.headers["content-type"].startswith("application/problem+json")
        assert again.json()["state"] == "paused"

        # longer than a batch and the pause after it: nothing moves, also after a restart
        # (the time is what this checks: no condition shows that nothing happened)
        await asyncio.sleep(3)
        job = await job_state(api, job_id)
        assert (job["state"], job["done"]) == ("paused", paused.json()["done"])
        restart(stack, "history", slow)
        await asyncio.sleep(3)
        job = await job_state(api, job_id)
        assert (job["state"], job["done"]) == ("paused", paused.json()["done"])

        resumed = await api.post(f"/api/jobs/{job_id}/resume")
        assert resumed.status_code == 200, resumed.text
        assert resumed.json()["state"] == "running"
        job = await wait_job(api, job_id, timeout=60)
    finally:
        restart(stack, "history")
    assert (job["state"], job["total"], job["done"], job["skipped"]) == ("done", 25, 25, 0)
    assert (await api.post(f"/api/jobs/{job_id}/resume")).status_code == 409
    assert (await api.post(f"/api/jobs/{uuid.uuid4()}/pause")).status_code == 404

    for contact in contacts:
        assert len(mail.wait_for(contact["email"], timeout=20)) >= 1
        assert (await history(api, contact["id"]))["total"] == 1
    await asyncio.sleep(2)  # a second mail would be on its way by now
    for contact in contacts:
        assert len(mail.messages(contact["email"])) == 1, contact["name"]

    # one event per entry: the relay may publish an event again after a restart (at
    # least once; consumers drop it by its id), but no entry gets a second event
    seen: dict[str, set[str]] = {}

    def of_job(record: Any) -> bool:
        value = json.loads(record.value)
        if value["data"].get("job_id") == job_id:
            seen.setdefault(value["data"]["entry_id"], set()).add(value["id"])
        return False  # read everything there is

    await read_topic(kafka_bootstrap, "crm.history", of_job, timeout=8)
    assert len(seen) == 25
    assert {len(ids) for ids in seen.values()} == {1}


@pytest.mark.parametrize("status", ["inbox", "archived"])
async def test_limited_contact_gets_no_entry_and_bulk_entries_skip_it(
    any_api: httpx.AsyncClient, status: str
) -> None:
    """Seed 002: no history entry for a contact in the inbox or archived (409 naming the
    status); a bulk entry counts it as skipped; accepted or restored, it takes one at once."""
    limited = (
        await any_api.post(
            "/api/contacts",
            json={
                "kind": "person",
                "name": "Eingeschränkt",
                "status": "inbox" if status == "inbox" else "prospect",
            },
        )
    ).json()
    if status == "archived":
        await any_api.post(f"/api/contacts/{limited['id']}/status", json={"status": "archived"})
    other = (await any_api.post("/api/contacts", json={"kind": "person", "name": "Aktiv"})).json()
    refused = await any_api.post(f"/api/contacts/{limited['id']}/history", json={"text": "x"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["contact_status"] == status
    job = await any_api.post(
        "/api/history/bulk",
        json={"selection": {"contact_ids": [limited["id"], other["id"]]}, "entry": {"text": "b"}},
    )
    assert job.status_code == 202, job.text
    state = await wait_job(any_api, job.json()["job_id"], timeout=10, every=0.05)
    assert (state["state"], state["total"], state["skipped"]) == ("done", 2, 1)
    lift = {"status": "prospect"} if status == "inbox" else {"status": "restore"}
    await any_api.post(f"/api/contacts/{limited['id']}/status", json=lift)
    taken = await any_api.post(f"/api/contacts/{limited['id']}/history", json={"text": "y"})
    assert taken.status_code == 201, taken.text
