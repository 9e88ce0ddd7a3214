"""Campaigns and their members through the gateway (real Kafka and databases)."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from campaigns_helpers import create_campaign, create_contact, problem_fields

from crm_dev.stack import Stack
from crm_dev.testing import read_topic
from crm_dev.testkit import eventually


async def test_create_get_and_list(any_api: httpx.AsyncClient) -> None:
    campaign = await create_campaign(
        any_api, description="Neukunden", products=["CRM Cloud", "CRM Cloud", "Support"]
    )
    assert campaign["retired"] is False
    assert campaign["products"] == ["CRM Cloud", "Support"]
    got = await any_api.get(f"/api/campaigns/{campaign['id']}")
    assert got.status_code == 200
    assert got.json() == campaign
    listed = (await any_api.get("/api/campaigns", params={"limit": 500})).json()
    assert campaign["id"] in [c["id"] for c in listed["items"]]


async def test_list_of_one_contacts_campaigns(any_api: httpx.AsyncClient) -> None:
    member_of = await create_campaign(any_api, name=f"Mitglied {uuid.uuid4().hex[:6]}")
    other = await create_campaign(any_api)
    retired = await create_campaign(any_api)
    contact = await create_contact(any_api)
    for campaign in (member_of, retired):
        url = f"/api/campaigns/{campaign['id']}/members"
        added = await any_api.post(url, json={"contact_ids": [contact["id"]]})
        assert added.status_code == 200, added.text
    await any_api.delete(f"/api/campaigns/{retired['id']}")

    params = {"contact_id": contact["id"], "limit": 500}
    listed = (await any_api.get("/api/campaigns", params=params)).json()["items"]
    assert [c["id"] for c in listed] == [member_of["id"]]
    every = await any_api.get("/api/campaigns", params={**params, "include_retired": "true"})
    assert {c["id"] for c in every.json()["items"]} == {member_of["id"], retired["id"]}
    assert other["id"] not in {c["id"] for c in every.json()["items"]}


async def test_period_must_not_end_before_it_starts(any_api: httpx.AsyncClient) -> None:
    response = await any_api.post(
        "/api/campaigns",
        json={"name": "Falsch", "starts_on": "2026-05-01", "ends_on": "2026-04-30"},
    )
    assert response.status_code == 422
    assert problem_fields(response) == ["ends_on"]
    same_day = await any_api.post(
        "/api/campaigns",
        json={"name": "Ein Tag", "starts_on": "2026-05-01", "ends_on": "2026-05-01"},
    )
    assert same_day.status_code == 201


async def test_unknown_campaign_is_404(api: httpx.AsyncClient) -> None:
    assert (await api.get(f"/api/campaigns/{uuid.uuid4()}")).status_code == 404
    assert (await api.delete(f"/api/campaigns/{uuid.uuid4()}")).status_code == 404


async def test_list_pages_with_a_cursor(api: httpx.AsyncClient) -> None:
    tag = uuid.uuid4().hex[:6]
    for n in range(3):
        await create_campaign(api, name=f"Seite {tag} {n}")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/api/campaigns", params=params)).json()
        seen += [c["name"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(seen)
    assert [n for n in seen if tag in n] == [f"Seite {tag} {n}" for n in range(3)]
    bad = await api.get("/api/campaigns", params={"cursor": "kaputt"})
    assert bad.status_code == 422
    assert problem_fields(bad) == ["cursor"]


async def test_members_add_list_remove(any_api: httpx.AsyncClient) -> None:
    campaign = await create_campaign(any_api)
    first = await create_contact(any_api, name="Anna Alt")
    second = await create_contact(any_api, name="Bernd Bär")
    url = f"/api/campaigns/{campaign['id']}/members"

    added = await any_api.post(url, json={"contact_ids": [first["id"], second["id"]]})
    assert added.status_code == 200, added.text
    assert sorted(added.json()["added"]) == sorted([first["id"], second["id"]])
    again = await any_api.post(url, json={"contact_ids": [first["id"]]})
    assert again.json() == {
        "campaign_id": campaign["id"],
        "added": [],
        "already_members": [first["id"]],
    }
    members = (await any_api.get(url)).json()["items"]
    assert {m["contact_id"]: m["name"] for m in members} == {
        first["id"]: "Anna Alt",
        second["id"]: "Bernd Bär",
    }

    removed = await any_api.delete(f"{url}/{first['id']}")
    assert removed.status_code == 204
    assert (await any_api.delete(f"{url}/{first['id']}")).status_code == 404
    members = (await any_api.get(url)).json()["items"]
    assert [m["contact_id"] for m in members] == [second["id"]]


async def test_unknown_contact_is_refused(api: httpx.AsyncClient) -> None:
    campaign = await create_campaign(api)
    known = await create_contact(api)
    unknown = str(uuid.uuid4())
    response = await api.post(
        f"/api/campaigns/{campaign['id']}/members", json={"contact_ids": [known["id"], unknown]}
    )
    assert response.status_code == 422
    assert problem_fields(response) == ["contact_ids"]
    assert unknown in response.json()["detail"]
    # nothing half-written: the known contact was not added either
    members = (await api.get(f"/api/campaigns/{campaign['id']}/members")).json()["items"]
    assert members == []


async def test_retired_campaign_rules(any_api: httpx.AsyncClient) -> None:
    campaign = await create_campaign(any_api)
    member = await create_contact(any_api)
    newcomer = await create_contact(any_api)
    url = f"/api/campaigns/{campaign['id']}"
    await any_api.post(f"{url}/members", json={"contact_ids": [member["id"]]})

    assert (await any_api.delete(url)).status_code == 204
    # retiring twice is idempotent
    assert (await any_api.delete(url)).status_code == 204
    got = (await any_api.get(url)).json()
    assert got["retired"] is True
    assert got["retired_at"] is not None

    # hidden from the list unless asked for
    active = (await any_api.get("/api/campaigns", params={"limit": 500})).json()["items"]
    assert campaign["id"] not in [c["id"] for c in active]
    every = await any_api.get("/api/campaigns", params={"limit": 500, "include_retired": "true"})
    assert campaign["id"] in [c["id"] for c in every.json()["items"]]

    # no new members: 409; existing links untouched
    refused = await any_api.post(f"{url}/members", json={"contact_ids": [newcomer["id"]]})
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    members = (await any_api.get(f"{url}/members")).json()["items"]
    assert [m["contact_id"] for m in members] == [member["id"]]

    # there is no way back: no endpoint reactivates it
    for method in ("PATCH", "PUT", "POST"):
        response = await any_api.request(method, url, json={"retired": False})
        assert response.status_code == 405, (method, response.status_code)


async def test_events_on_crm_campaigns(api: httpx.AsyncClient, stack: Stack) -> None:
    campaign = await create_campaign(api, products=["Support"])
    contact = await create_contact(api)
    url = f"/api/campaigns/{campaign['id']}"
    await api.post(f"{url}/members", json={"contact_ids": [contact["id"]]})
    await api.delete(f"{url}/members/{contact['id']}")
    await api.delete(url)
    await api.delete(url)

    bootstrap = stack.config.kafka_bootstrap
    found: dict[str, list[dict]] = {}

    def collect(record: object) -> bool:
        value = json.loads(record.value)  # type: ignore[attr-defined]
        if value["data"].get("campaign_id") == campaign["id"]:
            found.setdefault(value["type"], []).append(value)
        return "crm.CampaignRetired.v1" in found and "crm.CampaignMemberRemoved.v1" in found

    assert await read_topic(bootstrap, "crm.campaigns", collect, timeout=15)
    created = found["crm.CampaignCreated.v1"][0]
    assert created["subject"] == campaign["id"]
    assert created["data"]["products"] == ["Support"]
    added = found["crm.CampaignMemberAdded.v1"][0]
    assert added["subject"] == contact["id"]  # membership events are keyed by the contact
    assert added["data"]["campaign_name"] == campaign["name"]
    assert len(found["crm.CampaignRetired.v1"]) == 1  # the second retire emitted nothing


async def test_deleted_contact_loses_its_memberships(any_api: httpx.AsyncClient) -> None:
    campaign = await create_campaign(any_api)
    contact = await create_contact(any_api)
    url = f"/api/campaigns/{campaign['id']}/members"
    await any_api.post(url, json={"contact_ids": [contact["id"]]})
    assert (await any_api.delete(f"/api/contacts/{contact['id']}")).status_code == 204

    async def gone() -> bool:
        return (await any_api.get(url)).json()["items"] == []

    assert await eventually(gone, "the deleted contact's memberships are gone")
    # and it cannot be added again: the contact is known to be deleted
    again = await any_api.post(url, json={"contact_ids": [contact["id"]]})
    assert again.status_code == 422


@pytest.mark.parametrize("status", ["inbox", "archived"])
async def test_limited_contact_gets_no_membership_or_opportunity(
    any_api: httpx.AsyncClient, status: str
) -> None:
    """Seed 002: a contact in the inbox or archived gets no campaign membership and no
    opportunity (409 naming the status); accepted or restored, it gets them at once."""
    contact = await create_contact(any_api, status="inbox" if status == "inbox" else "prospect")
    if status == "archived":
        await any_api.post(f"/api/contacts/{contact['id']}/status", json={"status": "archived"})
    campaign = await create_campaign(any_api)
    member = (f"/api/campaigns/{campaign['id']}/members", {"contact_ids": [contact["id"]]})
    opportunity = (
        "/api/opportunities",
        {
            "contact_id": contact["id"],
            "title": "Angebot",
            "crm_status": "Bedarf ermittelt",
            "closing_probability": 50,
            "revenue_potential": "1000",
        },
    )
    for path, body in (member, opportunity):
        refused = await any_api.post(path, json=body)
        assert refused.status_code == 409, refused.text
        assert refused.json()["contact_status"] == status
    lift = {"status": "prospect"} if status == "inbox" else {"status": "restore"}
    await any_api.post(f"/api/contacts/{contact['id']}/status", json=lift)
    assert (await any_api.post(member[0], json=member[1])).status_code == 200
    assert (await any_api.post(opportunity[0], json=opportunity[1])).status_code == 201
