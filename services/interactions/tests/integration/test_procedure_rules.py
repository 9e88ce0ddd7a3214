"""Procedures (Kontaktvorgänge, seed 004) through the gateway: required fields, completion,
measures and campaigns (learned from crm.campaigns events), rescheduling, autocomplete."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import httpx
from ix_support import (
    create_contact,
    create_staff,
    plan,
    procedure_body,
    publish_campaign,
    retire_campaign,
    unique_email,
)

from crm_dev.stack import Stack
from crm_dev.testing import read_topic
from crm_dev.testkit import eventually
from crm_shared.kafka import EventProducer


async def procedure_events(stack: Stack, procedure_id: str, until: str) -> list[dict]:
    """The events of one procedure on crm.procedures, up to the first of type ``until``."""
    seen: list[dict] = []

    def collect(record: object) -> bool:
        body = json.loads(record.value)  # type: ignore[attr-defined]
        if body["data"].get("procedure_id") == procedure_id:
            seen.append(body)
        return any(e["type"] == f"crm.{until}.v1" for e in seen)

    await read_topic(stack.config.kafka_bootstrap, "crm.procedures", collect)
    return seen


async def test_planned_call_with_reminder_is_announced_for_the_reminders_service(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    responsible = await create_staff(api, email=unique_email(), name="Rita Rückruf")
    contact = await create_contact(api, name="Planbar GmbH", kind="company")
    procedure = await plan(
        api, contact["id"], responsible_id=responsible["id"], description="mit Preisliste"
    )
    assert procedure["state"] == "planned"
    assert procedure["duration_minutes"] == 0
    assert procedure["reminder"] is True
    assert procedure["created_by"]["name"] == "Administrator"
    assert procedure["contact"] == {"name": "Planbar GmbH", "credit_hold": False}

    [event] = await procedure_events(stack, procedure["id"], "ProcedurePlanned")
    assert event["subject"] == contact["id"]  # keyed by the contact
    data = event["data"]
    assert data["state"] == "planned" and data["reminder"] is True
    assert data["responsible_id"] == responsible["id"]
    assert data["responsible"]["name"] == "Rita Rückruf"
    assert data["created_by"]["email"] == "admin@localhost"
    assert data["subject"] == "Angebot nachfassen"
    assert data["contact_name"] == "Planbar GmbH"
    assert datetime.fromisoformat(data["starts_at"]) == datetime.fromisoformat(
        procedure["starts_at"]
    )


async def test_required_fields_and_zero_duration_while_planned(any_api: httpx.AsyncClient) -> None:
    contact = await create_contact(any_api)
    body = procedure_body(contact["id"])
    for field in ("type", "direction", "state", "starts_at", "duration_minutes", "reminder"):
        incomplete = {k: v for k, v in body.items() if k != field}
        response = await any_api.post("/api/procedures", json=incomplete)
        assert response.status_code == 422, field
        assert [e["field"] for e in response.json()["errors"]] == [field]
    blank = await any_api.post("/api/procedures", json={**body, "subject": "  "})
    assert blank.status_code == 422 and blank.json()["errors"][0]["field"] == "subject"
    naive = await any_api.post("/api/procedures", json={**body, "starts_at": "2030-01-01T10:00"})
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "starts_at"
    busy = await any_api.post("/api/procedures", json={**body, "duration_minutes": 30})
    assert busy.status_code == 422
    assert busy.json()["errors"][0]["field"] == "duration_minutes"
    # description and responsible are optional; a done call records its duration
    done = await any_api.post(
        "/api/procedures",
        json={**body, "state": "done", "duration_minutes": 25, "direction": "incoming"},
    )
    assert done.status_code == 201, done.text
    assert done.json()["state"] == "done" and done.json()["duration_minutes"] == 25


async def test_start_keeps_its_instant_in_utc(any_api: httpx.AsyncClient) -> None:
    contact = await create_contact(any_api)
    procedure = await plan(any_api, contact["id"], starts_at="2030-03-01T09:30:00+01:00")
    assert procedure["starts_at"] == "2030-03-01T08:30:00Z"
    fetched = (await any_api.get(f"/api/procedures/{procedure['id']}")).json()
    assert datetime.fromisoformat(fetched["starts_at"]) == datetime.fromisoformat(
        "2030-03-01T09:30:00+01:00"
    )


async def test_measure_without_campaign_cannot_be_completed(any_api: httpx.AsyncClient) -> None:
    contact = await create_contact(any_api)
    measure = await plan(any_api, contact["id"], type="measure", reminder=False)
    for outcome in ({"outcome": "done", "duration_minutes": 15}, {"outcome": "not_done"}):
        response = await any_api.post(f"/api/procedures/{measure['id']}/complete", json=outcome)
        assert response.status_code == 422
        problem = response.json()
        assert problem["errors"][0]["field"] == "campaign_id"
        assert problem["code"] == "measure_needs_campaign"  # a client words it itself
        assert "campaign" in problem["detail"]
    still = await any_api.get(f"/api/procedures/{measure['id']}")
    assert still.json()["state"] == "planned"
    # recording a measure as done right away is a completion too
    done = await any_api.post(
        "/api/procedures",
        json=procedure_body(contact["id"], type="measure", state="done", duration_minutes=5),
    )
    assert done.status_code == 422 and done.json()["errors"][0]["field"] == "campaign_id"
    assert done.json()["code"] == "measure_needs_campaign"


async def test_complete_done_and_not_done(api: httpx.AsyncClient, stack: Stack) -> None:
    contact = await create_contact(api)
    call = await plan(api, contact["id"])
    missing = await api.post(f"/api/procedures/{call['id']}/complete", json={"outcome": "done"})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "duration_minutes"
    done = await api.post(
        f"/api/procedures/{call['id']}/complete",
        json={"outcome": "done", "duration_minutes": 42, "starts_at": "2030-02-02T10:00:00Z"},
    )
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "done"
    assert done.json()["duration_minutes"] == 42
    assert done.json()["starts_at"] == "2030-02-02T10:00:00Z"
    again = await api.post(
        f"/api/procedures/{call['id']}/complete", json={"outcome": "done", "duration_minutes": 1}
    )
    assert again.status_code == 409
    closed = await api.patch(f"/api/procedures/{call['id']}", json={"subject": "später"})
    assert closed.status_code == 409

    other = await plan(api, contact["id"])
    changes_data = await api.post(
        f"/api/procedures/{other['id']}/complete",
        json={"outcome": "not_done", "duration_minutes": 10},
    )
    assert changes_data.status_code == 422
    not_done = await api.post(
        f"/api/procedures/{other['id']}/complete",
        json={"outcome": "not_done", "note": "Kunde nicht erreicht"},
    )
    assert not_done.status_code == 200
    body = not_done.json()
    assert body["state"] == "not_done" and body["note"] == "Kunde nicht erreicht"
    assert body["duration_minutes"] == 0 and body["starts_at"] == other["starts_at"]

    events = await procedure_events(stack, call["id"], "ProcedureCompleted")
    assert [e["type"] for e in events] == ["crm.ProcedurePlanned.v1", "crm.ProcedureCompleted.v1"]
    completed = events[-1]["data"]
    assert completed["outcome"] == "done" and completed["duration_minutes"] == 42
    assert completed["completed_by"]["name"] == "Administrator"
    [*_, last] = await procedure_events(stack, other["id"], "ProcedureCompleted")
    assert last["data"]["outcome"] == "not_done"
    assert last["data"]["note"] == "Kunde nicht erreicht"


async def test_rescheduling_a_planned_procedure(api: httpx.AsyncClient, stack: Stack) -> None:
    contact = await create_contact(api)
    procedure = await plan(api, contact["id"], starts_at="2030-05-05T08:00:00Z")
    moved = await api.patch(
        f"/api/procedures/{procedure['id']}",
        json={"starts_at": "2030-05-06T09:00:00Z", "reminder": False},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["starts_at"] == "2030-05-06T09:00:00Z"
    events = await procedure_events(stack, procedure["id"], "ProcedureRescheduled")
    data = events[-1]["data"]
    assert data["old_starts_at"].startswith("2030-05-05T08:00:00")
    assert data["starts_at"].startswith("2030-05-06T09:00:00")
    assert data["reminder"] is False
    assert data["changed"] == ["reminder", "starts_at"]
    unknown = await api.patch(
        f"/api/procedures/{procedure['id']}", json={"responsible_id": str(uuid.uuid4())}
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "responsible_id"


async def test_campaigns_come_by_event_and_retired_ones_are_not_selectable(
    api: httpx.AsyncClient, producer: EventProducer
) -> None:
    contact = await create_contact(api)
    campaign_id = await publish_campaign(producer, "Herbstaktion")
    # the campaign was announced a moment ago: the API waits a little for its event
    measure = await plan(api, contact["id"], type="measure", campaign_id=campaign_id)
    assert measure["campaign_id"] == campaign_id
    linked = await plan(api, contact["id"], type="call", campaign_id=campaign_id)

    await retire_campaign(producer, campaign_id, "Herbstaktion")

    async def refused() -> dict | None:
        response = await api.post(
            "/api/procedures", json=procedure_body(contact["id"], campaign_id=campaign_id)
        )
        assert response.status_code in (201, 422), response.text
        return response.json() if response.status_code == 422 else None

    problem = await eventually(refused, what="retired campaign refused")
    assert problem["errors"][0]["field"] == "campaign_id"
    assert problem["code"] == "campaign_retired"
    assert "retired" in problem["detail"]
    # existing links stay untouched, and the measure can still be completed
    kept = await api.get(f"/api/procedures/{linked['id']}")
    assert kept.json()["campaign_id"] == campaign_id
    done = await api.post(
        f"/api/procedures/{measure['id']}/complete",
        json={"outcome": "done", "duration_minutes": 30},
    )
    assert done.status_code == 200, done.text
    # nor can a planned procedure be moved onto it
    other = await plan(api, contact["id"])
    patched = await api.patch(f"/api/procedures/{other['id']}", json={"campaign_id": campaign_id})
    assert patched.status_code == 422
    assert patched.json()["errors"][0]["field"] == "campaign_id"

    unknown = await api.post(
        "/api/procedures", json=procedure_body(contact["id"], campaign_id=str(uuid.uuid4()))
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "campaign_id"


async def test_measure_with_campaign_set_later_can_be_completed(
    api: httpx.AsyncClient, producer: EventProducer
) -> None:
    contact = await create_contact(api)
    measure = await plan(api, contact["id"], type="measure")
    campaign_id = await publish_campaign(producer)
    patched = await api.patch(f"/api/procedures/{measure['id']}", json={"campaign_id": campaign_id})
    assert patched.status_code == 200, patched.text
    done = await api.post(
        f"/api/procedures/{measure['id']}/complete",
        json={"outcome": "done", "duration_minutes": 30},
    )
    assert done.status_code == 200 and done.json()["state"] == "done"


async def test_inbox_contact_is_refused(any_api: httpx.AsyncClient) -> None:
    contact = await create_contact(any_api, status="inbox")
    response = await any_api.post("/api/procedures", json=procedure_body(contact["id"]))
    assert response.status_code == 409


async def test_contact_person_belongs_to_the_company(api: httpx.AsyncClient) -> None:
    company = await create_contact(api, kind="company", name="Firma Person AG")
    person = await create_contact(api, name="Paul Person", company_id=company["id"])
    stranger = await create_contact(api, name="Fremde Frau")
    procedure = await plan(api, company["id"], contact_person_id=person["id"])
    assert procedure["contact_person_id"] == person["id"]
    wrong = await api.post(
        "/api/procedures", json=procedure_body(company["id"], contact_person_id=stranger["id"])
    )
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "contact_person_id"
    own = await plan(api, person["id"])  # a person is its own contact person
    assert own["contact_person_id"] == person["id"]


async def test_list_filters_and_keyset_pages(any_api: httpx.AsyncClient) -> None:
    contact = await create_contact(any_api)
    starts = ["2030-01-01T08:00:00Z", "2030-01-02T08:00:00Z", "2030-01-03T08:00:00Z"]
    ids = [(await plan(any_api, contact["id"], starts_at=s))["id"] for s in starts]
    await any_api.post(
        f"/api/procedures/{ids[1]}/complete", json={"outcome": "done", "duration_minutes": 5}
    )
    seen: list[str] = []
    cursor = None
    while True:
        params = {"contact_id": contact["id"], "limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = (await any_api.get("/api/procedures", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids
    planned = await any_api.get(
        "/api/procedures", params={"contact_id": contact["id"], "state": "planned"}
    )
    assert [p["id"] for p in planned.json()["items"]] == [ids[0], ids[2]]
    bad = await any_api.get("/api/procedures", params={"cursor": "nonsense"})
    assert bad.status_code == 422


async def test_responsible_filter(api: httpx.AsyncClient) -> None:
    responsible = await create_staff(api, email=unique_email())
    contact = await create_contact(api)
    mine = await plan(api, contact["id"], responsible_id=responsible["id"])
    await plan(api, contact["id"])
    listed = await api.get("/api/procedures", params={"responsible_id": responsible["id"]})
    assert [p["id"] for p in listed.json()["items"]] == [mine["id"]]


async def test_contact_autocomplete_two_terms_ten_results(any_api: httpx.AsyncClient) -> None:
    # letters only: a hex tag such as "4211e263" holds "11", and every company matches
    tag = "".join(chr(ord("a") + int(digit, 16)) for digit in uuid.uuid4().hex[:8])
    for i in range(12):
        await create_contact(any_api, kind="company", name=f"Nordlicht{tag} GmbH {i}")
    await create_contact(any_api, name=f"Erika {tag.upper()}sen")

    async def search(q: str, **more: str) -> list[str]:
        params = {"q": q, **more}
        response = await any_api.get("/api/procedures/contact-search", params=params)
        assert response.status_code == 200, response.text
        return [c["name"] for c in response.json()["items"]]

    async def arrived(q: str, expected: list[str]) -> bool:
        return await search(q) == expected

    # the local copy fills from contact events: wait for the last ones
    await eventually(
        lambda: arrived(f"NORDLICHT{tag} 11", [f"Nordlicht{tag} GmbH 11"]), what="two terms"
    )
    await eventually(
        lambda: arrived(f"erika {tag}", [f"Erika {tag.upper()}sen"]), what="case-insensitive"
    )
    assert len(await search(tag)) == 10  # 13 match, at most ten are shown
    # a person's company is chosen from companies only, and persons from persons
    assert await search(f"erika {tag}", kind="company") == []
    assert await search(f"erika {tag}", kind="person") == [f"Erika {tag.upper()}sen"]
    assert len(await search(f"nordlicht{tag}", kind="company")) == 10
    three = await any_api.get("/api/procedures/contact-search", params={"q": "a b c"})
    assert three.status_code == 422 and three.json()["errors"][0]["field"] == "q"
    wildcard = await any_api.get("/api/procedures/contact-search", params={"q": f"%{tag}"})
    assert wildcard.json()["items"] == []
