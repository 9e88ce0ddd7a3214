"""The natural next step right after a change, with no pause, through the gateway on
PostgreSQL: the right answer or a retryable 503, never a stale one (issue 15's table,
one test per row, and the places found beyond it).

Each step is sent at once after the write it follows. ``settled`` retries only a 503 with
``Retry-After`` (a copy still behind after waiting): any other answer is the one judged.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from crm_dev.testing import Mailbox

Call = Callable[[], Awaitable[httpx.Response]]


async def settled(call: Call, *, attempts: int = 20) -> httpx.Response:
    """The answer of ``call``, sent again only while it is a retryable 503."""
    for _ in range(attempts):
        response = await call()
        if response.status_code != 503:
            return response
        assert response.headers.get("retry-after"), response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        await asyncio.sleep(0.2)
    return response


def unique(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def email() -> str:
    return f"{unique('rw-')}@example.com"


async def ok(response: Awaitable[httpx.Response], status: int = 200) -> Any:
    answer = await response
    assert answer.status_code == status, answer.text
    return answer.json() if answer.content else None


async def contact(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"kind": "person", "name": unique("Kontakt "), "email": email(), **fields}
    created: dict[str, Any] = await ok(api.post("/api/contacts", json=body), 201)
    return created


def interaction(contact_id: str, kind: str = "outgoing", **fields: Any) -> dict[str, Any]:
    return {"contact_id": contact_id, "topic": "Angebot", "kind": kind, "text": "Hallo", **fields}


async def job_done(api: httpx.AsyncClient, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = await ok(api.get(f"/api/jobs/{job_id}"))
        if job["state"] != "running" or time.monotonic() > deadline:
            assert job["state"] == "done", job
            return job
        await asyncio.sleep(0.1)


async def bulk_entry(api: httpx.AsyncClient, selection: dict[str, Any]) -> dict[str, Any]:
    accepted = await settled(
        lambda: api.post(
            "/api/history/bulk", json={"selection": selection, "entry": {"text": "Bulk"}}
        )
    )
    assert accepted.status_code == 202, accepted.text
    return await job_done(api, accepted.json()["job_id"])


async def mailing(api: httpx.AsyncClient, selection: dict[str, Any]) -> dict[str, Any]:
    body = {"selection": selection, "subject": "Neuigkeiten", "body": "Hallo {{ name }}"}
    accepted = await settled(lambda: api.post("/api/history/mailings", json=body))
    assert accepted.status_code == 202, accepted.text
    return await job_done(api, accepted.json()["job_id"])


def in_days(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).isoformat()


def procedure(contact_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "contact_id": contact_id,
        "type": "call",
        "direction": "outgoing",
        "state": "planned",
        "starts_at": in_days(3),
        "duration_minutes": 0,
        "reminder": False,
        "subject": "Anruf",
        **fields,
    }


# --- the contact an interaction names ------------------------------------------------


async def test_changed_email_then_outgoing_interaction_mails_the_new_address(
    api: httpx.AsyncClient, mail: Mailbox
) -> None:
    person = await contact(api)
    new = email()
    await ok(api.patch(f"/api/contacts/{person['id']}", json={"email": new}))
    await ok(settled(lambda: api.post("/api/interactions", json=interaction(person["id"]))), 201)
    assert len(mail.wait_for(new, timeout=10)) == 1
    assert mail.messages(person["email"]) == []


async def test_deleted_contact_gets_no_interaction_and_no_mail(
    api: httpx.AsyncClient, mail: Mailbox
) -> None:
    person = await contact(api)
    await ok(api.delete(f"/api/contacts/{person['id']}"), 204)
    refused = await settled(lambda: api.post("/api/interactions", json=interaction(person["id"])))
    assert refused.status_code == 404, refused.text
    assert mail.wait_for(person["email"], timeout=2) == []


async def test_changed_language_then_incoming_interaction_mails_in_english(
    api: httpx.AsyncClient, mail: Mailbox
) -> None:
    person = await contact(api, language="de")
    await ok(api.patch(f"/api/contacts/{person['id']}", json={"language": "en"}))
    body = interaction(person["id"], "incoming", topic="Quote")
    await ok(settled(lambda: api.post("/api/interactions", json=body)), 201)
    [message] = mail.wait_for(person["email"], timeout=10)
    assert message["Subject"] == "We have received your message: Quote"


async def test_changed_name_and_credit_hold_show_on_the_next_interaction(
    api: httpx.AsyncClient,
) -> None:
    person = await contact(api, name="Alter Name")
    await ok(api.patch(f"/api/contacts/{person['id']}", json={"name": "Neuer Name"}))
    logged = await ok(
        settled(lambda: api.post("/api/interactions", json=interaction(person["id"], "internal"))),
        201,
    )
    assert logged["contact_name"] == "Neuer Name"
    assert logged["contact"]["name"] == "Neuer Name"
    await ok(api.patch(f"/api/contacts/{person['id']}", json={"credit_hold": True}))
    logged = await ok(
        settled(lambda: api.post("/api/interactions", json=interaction(person["id"], "internal"))),
        201,
    )
    assert logged["contact"]["credit_hold"] is True


async def test_accepted_inbox_contact_takes_an_interaction_at_once(api: httpx.AsyncClient) -> None:
    name = unique("Import ")
    csv = f"kind,name,email\nperson,{name},{email()}\n".encode()
    await ok(api.post("/api/contacts/import", content=csv, headers={"Content-Type": "text/csv"}))
    [imported] = (await ok(api.get("/api/contacts", params={"q": name})))["items"]
    await ok(api.post(f"/api/contacts/{imported['id']}/status", json={"status": "prospect"}))
    await ok(
        settled(
            lambda: api.post("/api/interactions", json=interaction(imported["id"], "internal"))
        ),
        201,
    )


async def test_restored_contact_takes_a_history_entry_at_once(api: httpx.AsyncClient) -> None:
    person = await contact(api)
    await ok(api.post(f"/api/contacts/{person['id']}/status", json={"status": "archived"}))
    archived = await settled(
        lambda: api.post(f"/api/contacts/{person['id']}/history", json={"text": "x"})
    )
    assert archived.status_code == 409, archived.text
    assert archived.json()["contact_status"] == "archived"
    await ok(api.post(f"/api/contacts/{person['id']}/status", json={"status": "restore"}))
    await ok(
        settled(lambda: api.post(f"/api/contacts/{person['id']}/history", json={"text": "y"})),
        201,
    )


async def test_new_contact_then_portal_login_link_sends_the_mail(
    stack: Any, api: httpx.AsyncClient, mail: Mailbox
) -> None:
    person = await contact(api)
    async with httpx.AsyncClient(base_url=stack.gateway_url) as customer:
        answer = await customer.post("/portal/api/login-link", json={"email": person["email"]})
    assert answer.status_code == 202
    [message] = mail.wait_for(person["email"], timeout=15)
    assert "/portal/login?token=" in message.get_payload()


async def test_retired_campaign_is_refused_for_a_procedure_at_once(api: httpx.AsyncClient) -> None:
    person = await contact(api)
    campaign = await ok(
        api.post(
            "/api/campaigns",
            json={"name": unique("Aktion "), "starts_on": "2026-01-01", "ends_on": "2026-12-31"},
        ),
        201,
    )
    body = procedure(person["id"], campaign_id=campaign["id"])
    await ok(settled(lambda: api.post("/api/procedures", json=body)), 201)
    await ok(api.delete(f"/api/campaigns/{campaign['id']}"), 204)
    refused = await settled(lambda: api.post("/api/procedures", json=body))
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "campaign_id"


async def test_staff_email_removed_then_recording_for_them_is_refused(
    api: httpx.AsyncClient,
) -> None:
    staff = await ok(
        api.post(
            "/api/staff",
            json={
                "username": unique("anna-"),
                "password": "geheim-123",
                "name": "Anna Vertrieb",
                "email": email(),
                "roles": ["crm_user"],
            },
        ),
        201,
    )
    person = await contact(api)
    body = interaction(person["id"], recorded_by=staff["id"])
    await ok(settled(lambda: api.post("/api/interactions", json=body)), 201)
    await ok(api.patch(f"/api/staff/{staff['id']}", json={"email": None}))
    refused = await settled(lambda: api.post("/api/interactions", json=body))
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "recorded_by"


async def test_the_first_admin_is_an_assignee_and_a_responsible_at_once(
    api: httpx.AsyncClient,
) -> None:
    me = await ok(api.get("/api/me"))
    person = await contact(api, assignment={"mode": "staff", "staff_id": me["id"]})
    assert person["assignment"]["staff_id"] == me["id"]
    body = procedure(person["id"], reminder=True, responsible_id=me["id"])
    planned = await ok(settled(lambda: api.post("/api/procedures", json=body)), 201)
    reminders = await ok(settled(lambda: api.get("/api/reminders")))
    assert planned["id"] in {r["procedure_id"] for r in reminders["items"]}


async def test_status_change_is_on_the_timeline_at_once(api: httpx.AsyncClient) -> None:
    person = await contact(api)
    await ok(
        api.post(
            f"/api/contacts/{person['id']}/status", json={"status": "customer", "confirm": True}
        )
    )
    timeline = await ok(settled(lambda: api.get(f"/api/contacts/{person['id']}/timeline")))
    assert "Status geändert: Interessent → Kunde" in {i["summary"] for i in timeline["items"]}


# --- selections: resolved by the contacts service when the job starts --------------


async def test_new_group_members_are_all_in_the_bulk_entry_and_the_mailing(
    api: httpx.AsyncClient, mail: Mailbox
) -> None:
    people = [await contact(api) for _ in range(3)]
    group = await ok(api.post("/api/groups", json={"name": unique("Gruppe ")}), 201)
    await ok(
        api.post(
            f"/api/groups/{group['id']}/members", json={"contact_ids": [p["id"] for p in people]}
        )
    )
    job = await bulk_entry(api, {"group_id": group["id"]})
    assert (job["total"], job["done"], job["skipped"]) == (3, 3, 0)
    job = await mailing(api, {"group_id": group["id"]})
    assert (job["total"], job["skipped"]) == (3, 0)
    for person in people:
        assert len(mail.wait_for(person["email"], timeout=10)) == 1


async def test_new_contacts_status_and_number_are_in_the_next_selection(
    api: httpx.AsyncClient,
) -> None:
    tag = unique("Neu ")
    people = [await contact(api, name=f"{tag} {i}") for i in range(3)]
    job = await bulk_entry(api, {"filter": {"q": tag}})
    assert job["total"] == 3
    await ok(
        api.post(
            f"/api/contacts/{people[0]['id']}/status", json={"status": "customer", "confirm": True}
        )
    )
    job = await bulk_entry(api, {"filter": {"q": tag, "status": "customer"}})
    assert job["total"] == 1
    number = unique("K-")
    await ok(api.patch(f"/api/contacts/{people[1]['id']}", json={"customer_number": number}))
    job = await mailing(api, {"filter": {"customer_number": number}})
    assert (job["total"], job["skipped"]) == (1, 0)


async def test_dynamic_group_bulk_entry_and_mailing_take_its_members(
    api: httpx.AsyncClient, kit: Any
) -> None:
    industry = unique("Branche ")
    await kit.allow_crm_values(api, company_groups=[industry])
    for i in range(4):
        await contact(
            api, kind="company", name=unique(f"Firma {i} "), crm={"company_group": industry}
        )
    group = await ok(
        api.post(
            "/api/groups",
            json={"name": unique("Dyn "), "kind": "dynamic", "filter": {"company_group": industry}},
        ),
        201,
    )
    assert (await bulk_entry(api, {"group_id": group["id"]}))["total"] == 4
    job = await mailing(api, {"group_id": group["id"]})
    assert (job["total"], job["skipped"]) == (4, 0)


async def test_deleted_group_is_refused_for_a_bulk_entry(api: httpx.AsyncClient) -> None:
    person = await contact(api)
    group = await ok(
        api.post("/api/groups", json={"name": unique("Weg "), "contact_ids": [person["id"]]}), 201
    )
    await ok(api.delete(f"/api/groups/{group['id']}"), 204)
    refused = await settled(
        lambda: api.post(
            "/api/history/bulk",
            json={"selection": {"group_id": group["id"]}, "entry": {"text": "x"}},
        )
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "selection.group_id"


# --- filters over the contacts service's copies ------------------------------------


async def test_new_history_entry_is_found_by_the_history_filter(api: httpx.AsyncClient) -> None:
    person = await contact(api)
    marker = unique("feld-")
    await ok(
        settled(lambda: api.post(f"/api/contacts/{person['id']}/history", json={"field1": marker})),
        201,
    )
    found = await ok(settled(lambda: api.get("/api/contacts", params={"history.field1": marker})))
    assert [c["id"] for c in found["items"]] == [person["id"]]


async def test_bulk_history_entries_are_found_once_the_job_is_done(api: httpx.AsyncClient) -> None:
    tag = unique("Job ")
    people = [await contact(api, name=f"{tag} {i}") for i in range(3)]
    marker = unique("bulk-")
    accepted = await ok(
        api.post(
            "/api/history/bulk",
            json={"selection": {"filter": {"q": tag}}, "entry": {"field2": marker}},
        ),
        202,
    )
    await job_done(api, accepted["job_id"])
    found = await ok(settled(lambda: api.get("/api/contacts", params={"history.field2": marker})))
    assert {c["id"] for c in found["items"]} == {p["id"] for p in people}


async def test_new_campaign_member_is_found_by_the_campaign_filter(api: httpx.AsyncClient) -> None:
    person = await contact(api)
    campaign = await ok(
        api.post(
            "/api/campaigns",
            json={"name": unique("Messe "), "starts_on": "2026-01-01", "ends_on": "2026-12-31"},
        ),
        201,
    )
    await ok(
        settled(
            lambda: api.post(
                f"/api/campaigns/{campaign['id']}/members", json={"contact_ids": [person["id"]]}
            )
        )
    )
    found = await ok(
        settled(lambda: api.get("/api/contacts", params={"campaign_id": campaign["id"]}))
    )
    assert [c["id"] for c in found["items"]] == [person["id"]]


async def test_new_crm_list_value_is_accepted_on_a_contact_at_once(
    api: httpx.AsyncClient, kit: Any
) -> None:
    product = unique("Produkt ")
    refused = await settled(
        lambda: api.post(
            "/api/contacts", json={"kind": "company", "name": "X", "crm": {"products": [product]}}
        )
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "crm.products"
    await kit.allow_crm_values(api, products=[product])
    await ok(
        settled(
            lambda: api.post(
                "/api/contacts",
                json={"kind": "company", "name": "Y", "crm": {"products": [product]}},
            )
        ),
        201,
    )


@pytest.mark.parametrize("status", ["inbox", "archived"])
async def test_limited_contacts_are_refused_everywhere_naming_the_status(
    api: httpx.AsyncClient, status: str
) -> None:
    """Seed 002: no interaction, procedure, history entry, opportunity, campaign
    membership or mailing for a contact in the inbox or archived."""
    if status == "inbox":
        name = unique("Eingang ")
        csv = f"kind,name,email\nperson,{name},{email()}\n".encode()
        await ok(
            api.post("/api/contacts/import", content=csv, headers={"Content-Type": "text/csv"})
        )
        [person] = (await ok(api.get("/api/contacts", params={"q": name})))["items"]
    else:
        person = await contact(api)
        await ok(api.post(f"/api/contacts/{person['id']}/status", json={"status": "archived"}))
    campaign = await ok(
        api.post(
            "/api/campaigns",
            json={"name": unique("K "), "starts_on": "2026-01-01", "ends_on": "2026-12-31"},
        ),
        201,
    )
    attempts = {
        "interaction": ("/api/interactions", interaction(person["id"], "internal")),
        "procedure": ("/api/procedures", procedure(person["id"])),
        "history entry": (f"/api/contacts/{person['id']}/history", {"text": "x"}),
        "opportunity": (
            "/api/opportunities",
            {
                "contact_id": person["id"],
                "title": "x",
                "crm_status": "Bedarf ermittelt",
                "closing_probability": 10,
                "revenue_potential": "100",
            },
        ),
        "campaign membership": (
            f"/api/campaigns/{campaign['id']}/members",
            {"contact_ids": [person["id"]]},
        ),
    }
    for what, (path, body) in attempts.items():
        refused = await settled(lambda path=path, body=body: api.post(path, json=body))
        assert refused.status_code == 409, (what, refused.text)
        problem = refused.json()
        assert problem["contact_status"] == status, (what, problem)
        assert status in problem["detail"], (what, problem)
    job = await mailing(api, {"contact_ids": [person["id"]]})
    assert (job["total"], job["skipped"]) == (1, 1)
