"""Opportunities, CRM settings, the CRM dashboard and the CSV exports, through the gateway."""

from __future__ import annotations

import csv
import io
import json
import uuid
from decimal import Decimal
from typing import Any

import httpx
from campaigns_helpers import create_campaign, create_contact, problem_fields

from crm_dev.stack import Stack
from crm_dev.testing import read_topic
from crm_dev.testkit import eventually


async def create_opportunity(api: httpx.AsyncClient, contact_id: str, **fields: Any) -> dict:
    body = {
        "contact_id": contact_id,
        "title": "Lizenzen 2027",
        "crm_status": "Bedarf ermittelt",
        "closing_probability": 50,
        "revenue_potential": "12500.00",
        **fields,
    }
    response = await api.post("/api/opportunities", json=body)
    assert response.status_code == 201, response.text
    result: dict = response.json()
    return result


class World:
    """Three opportunities on two companies (one through its contact person)."""

    def __init__(self) -> None:
        self.a1 = str(uuid.uuid4())
        self.a2 = str(uuid.uuid4())
        self.ids: dict[str, str] = {}
        self.contacts: dict[str, str] = {}
        self.campaigns: dict[str, str] = {}

    @property
    def base(self) -> dict[str, str]:
        return {"assignee_id": f"{self.a1},{self.a2}"}

    async def build(self, api: httpx.AsyncClient) -> World:
        company_a = await create_contact(
            api,
            kind="company",
            name="Alpha GmbH",
            crm={"company_size": "10-49", "company_group": "Handel"},
        )
        person = await create_contact(
            api,
            name="Paula Alpha",
            company_id=company_a["id"],
            crm={"company_size": "1-9", "company_group": "Handwerk"},
        )
        company_b = await create_contact(
            api,
            kind="company",
            name="Beta AG",
            crm={"company_size": "250+", "company_group": "Industrie"},
        )
        self.contacts = {"A": company_a["id"], "P": person["id"], "B": company_b["id"]}
        c1 = await create_campaign(api)
        c2 = await create_campaign(api)
        self.campaigns = {"C1": c1["id"], "C2": c2["id"]}
        o1 = await create_opportunity(
            api,
            person["id"],
            crm_status="Bedarf ermittelt",
            closing_probability=50,
            revenue_potential=10000,
            expected_users=10,
            products=["CRM Cloud", "Support"],
            campaign_ids=[c1["id"]],
            assignee_id=self.a1,
        )
        o2 = await create_opportunity(
            api,
            company_a["id"],
            crm_status="Angebot erstellt",
            closing_probability=20,
            revenue_potential="60000",
            expected_users=100,
            products=["Support"],
            campaign_ids=[c1["id"], c2["id"]],
            assignee_id=self.a2,
        )
        o3 = await create_opportunity(
            api,
            company_b["id"],
            crm_status="Bedarf ermittelt",
            closing_probability=100,
            revenue_potential=500.0,
            assignee_id=self.a1,
        )
        self.ids = {"o1": o1["id"], "o2": o2["id"], "o3": o3["id"]}
        return self

    def names(self, ids: list[str]) -> set[str]:
        reverse = {v: k for k, v in self.ids.items()}
        return {reverse[i] for i in ids}


async def listed(api: httpx.AsyncClient, params: dict[str, Any]) -> list[str]:
    response = await api.get("/api/opportunities", params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def dashboard(api: httpx.AsyncClient, params: dict[str, Any]) -> list[dict]:
    response = await api.get("/api/dashboard", params=params)
    assert response.status_code == 200, response.text
    groups: list[dict] = response.json()["groups"]
    return groups


async def test_settings_defaults_validation_and_admin_only(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    current = (await api.get("/api/crm/settings")).json()
    assert "Bedarf ermittelt" in current["opportunity_statuses"]
    assert current["revenue_groups"][1] == {"name": "mittel", "min": "10000.00", "max": "49999.99"}

    changed = {**current, "products": [*current["products"], "Wartung"]}
    saved = await api.put("/api/crm/settings", json=changed)
    assert saved.status_code == 200, saved.text
    assert "Wartung" in (await api.get("/api/crm/settings")).json()["products"]

    bad_range = {**current, "revenue_groups": [{"name": "x", "min": "10", "max": "5"}]}
    response = await api.put("/api/crm/settings", json=bad_range)
    assert response.status_code == 422
    assert problem_fields(response) == ["revenue_groups.0.max"]
    twice = {**current, "opportunity_statuses": ["Neu", "Neu"]}
    response = await api.put("/api/crm/settings", json=twice)
    assert problem_fields(response) == ["opportunity_statuses"]

    username = f"crm-{uuid.uuid4().hex[:8]}"
    staff = await api.post(
        "/api/staff",
        json={
            "username": username,
            "password": "a-long-password-1",
            "name": "Carla CRM",
            "initials": "CC",
            "email": f"{username}@example.com",
            "roles": ["crm_user"],
            "language": "de",
        },
    )
    assert staff.status_code == 201, staff.text
    token = (
        await api.post(
            "/api/auth/token", json={"username": username, "password": "a-long-password-1"}
        )
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=headers) as user:
        assert (await user.get("/api/crm/settings")).status_code == 200
        assert (await user.put("/api/crm/settings", json=current)).status_code == 403
    await api.put("/api/crm/settings", json=current)


async def test_create_get_patch_delete(any_api: httpx.AsyncClient) -> None:
    contact = await create_contact(any_api, name="Otto Opp")
    opportunity = await create_opportunity(any_api, contact["id"], revenue_potential=12500)
    assert opportunity["revenue_potential"] == "12500.00"
    assert opportunity["currency"] == "EUR"
    assert opportunity["revenue_group"] == "mittel"
    assert opportunity["contact_name"] == "Otto Opp"
    assert opportunity["version"] == 1
    url = f"/api/opportunities/{opportunity['id']}"
    assert (await any_api.get(url)).json() == opportunity

    patched = await any_api.patch(
        url, json={"revenue_potential": "250000.5", "closing_probability": 75}
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["revenue_potential"] == "250000.50"
    assert body["revenue_group"] == "sehr groß"
    assert body["closing_probability"] == 75
    assert body["version"] == 2
    unchanged = await any_api.patch(url, json={"closing_probability": 75})
    assert unchanged.json()["version"] == 2
    null = await any_api.patch(url, json={"title": None})
    assert null.status_code == 422
    assert problem_fields(null) == ["title"]

    assert (await any_api.delete(url)).status_code == 204
    assert (await any_api.get(url)).status_code == 404
    assert (await any_api.delete(url)).status_code == 404


async def test_values_outside_the_lists_are_refused(any_api: httpx.AsyncClient) -> None:
    contact = await create_contact(any_api)
    cases = [
        ({"crm_status": "Unbekannt"}, "crm_status"),
        ({"products": ["Gibt es nicht"]}, "products"),
        ({"closing_probability": 101}, "closing_probability"),
        ({"closing_probability": -1}, "closing_probability"),
        ({"revenue_potential": "-1"}, "revenue_potential"),
        ({"revenue_potential": "zwölf"}, "revenue_potential"),
        ({"revenue_potential": "1.005"}, "revenue_potential"),
        ({"campaign_ids": [str(uuid.uuid4())]}, "campaign_ids"),
        ({"colour": "rot"}, "colour"),
    ]
    for fields, field in cases:
        body = {
            "contact_id": contact["id"],
            "title": "T",
            "crm_status": "Bedarf ermittelt",
            "closing_probability": 10,
            "revenue_potential": "1",
            **fields,
        }
        response = await any_api.post("/api/opportunities", json=body)
        assert response.status_code == 422, (fields, response.text)
        assert problem_fields(response) == [field], (fields, response.text)


async def test_unknown_contact_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/api/opportunities",
        json={
            "contact_id": str(uuid.uuid4()),
            "title": "T",
            "crm_status": "Bedarf ermittelt",
            "closing_probability": 10,
            "revenue_potential": "1",
        },
    )
    assert response.status_code == 422
    assert problem_fields(response) == ["contact_id"]


async def test_retired_campaigns_are_refused_on_new_links(any_api: httpx.AsyncClient) -> None:
    contact = await create_contact(any_api)
    active = await create_campaign(any_api)
    retiring = await create_campaign(any_api)
    opportunity = await create_opportunity(
        any_api, contact["id"], campaign_ids=[active["id"], retiring["id"]]
    )
    assert (await any_api.delete(f"/api/campaigns/{retiring['id']}")).status_code == 204

    refused = await any_api.post(
        "/api/opportunities",
        json={
            "contact_id": contact["id"],
            "title": "Neu",
            "crm_status": "Bedarf ermittelt",
            "closing_probability": 10,
            "revenue_potential": "1",
            "campaign_ids": [retiring["id"]],
        },
    )
    assert refused.status_code == 422
    assert problem_fields(refused) == ["campaign_ids"]
    assert "retired" in refused.json()["detail"]

    url = f"/api/opportunities/{opportunity['id']}"
    # the existing link to the retired campaign stays through other changes
    kept = await any_api.patch(url, json={"title": "Geändert", "campaign_ids": [retiring["id"]]})
    assert kept.status_code == 200, kept.text
    assert kept.json()["campaign_ids"] == [retiring["id"]]
    # but once removed it cannot come back
    await any_api.patch(url, json={"campaign_ids": []})
    again = await any_api.patch(url, json={"campaign_ids": [retiring["id"]]})
    assert again.status_code == 422
    assert problem_fields(again) == ["campaign_ids"]


async def test_each_filter(api: httpx.AsyncClient) -> None:
    w = await World().build(api)
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({}, {"o1", "o2", "o3"}),
        ({"crm_status": "Bedarf ermittelt"}, {"o1", "o3"}),
        ({"revenue_group": "mittel"}, {"o1"}),
        ({"revenue_group": "mittel,klein"}, {"o1", "o3"}),
        ({"assignee_id": w.a1}, {"o1", "o3"}),
        ({"campaign_id": w.campaigns["C2"]}, {"o2"}),
        ({"campaign_id": w.campaigns["C1"]}, {"o1", "o2"}),
        ({"product": "Support"}, {"o1", "o2"}),
        ({"product": "CRM Cloud"}, {"o1"}),
        ({"contact_id": w.contacts["A"]}, {"o1", "o2"}),  # a company covers its persons
        ({"contact_id": w.contacts["P"]}, {"o1"}),
        ({"company_size": "10-49"}, {"o1", "o2"}),  # the person has its company's facts
        ({"company_size": "1-9"}, set()),
        ({"company_group": "Industrie"}, {"o3"}),
        ({"company_group": "Handel"}, {"o1", "o2"}),
        ({"users_from": 50}, {"o2"}),
        ({"users_to": 50}, {"o1"}),
        ({"users_from": 10, "users_to": 100}, {"o1", "o2"}),
        ({"crm_status": "Bedarf ermittelt", "product": "Support"}, {"o1"}),
    ]
    for extra, expected in cases:
        params = {**w.base, **extra}
        assert w.names(await listed(api, params)) == expected, extra
        [total] = await dashboard(api, params)
        assert total["count"] == len(expected), extra
    # the company's facts change: its opportunities and its persons' follow
    patched = await api.patch(
        f"/api/contacts/{w.contacts['A']}",
        json={"crm": {"company_size": "50-249", "company_group": "Handel"}},
    )
    assert patched.status_code == 200, patched.text

    async def moved() -> bool:
        found = await listed(api, {**w.base, "company_size": "50-249"})
        return w.names(found) == {"o1", "o2"}

    assert await eventually(moved, "the company's new size on its opportunities")
    bad = await api.get("/api/opportunities", params={"users_from": 5, "users_to": 1})
    assert bad.status_code == 422
    assert problem_fields(bad) == ["users_to"]


def totals(groups: list[dict]) -> tuple[int, Decimal, Decimal]:
    return (
        sum(g["count"] for g in groups),
        sum((Decimal(g["revenue_potential"]) for g in groups), Decimal()),
        sum((Decimal(g["weighted_revenue"]) for g in groups), Decimal()),
    )


async def test_grouping_in_two_orders_gives_the_same_totals(any_api: httpx.AsyncClient) -> None:
    w = await World().build(any_api)
    [total] = await dashboard(any_api, w.base)
    assert total == {
        "key": {},
        "count": 3,
        "revenue_potential": "70500.00",
        "weighted_revenue": "17500.00",  # 10000*0.5 + 60000*0.2 + 500*1
    }
    one = await dashboard(any_api, {**w.base, "group_by": "crm_status,company_size"})
    two = await dashboard(any_api, {**w.base, "group_by": "company_size,crm_status"})
    assert totals(one) == totals(two) == (3, Decimal("70500.00"), Decimal("17500.00"))
    assert list(one[0]["key"]) == ["crm_status", "company_size"]
    assert list(two[0]["key"]) == ["company_size", "crm_status"]

    def as_set(groups: list[dict]) -> set:
        return {
            (tuple(sorted(g["key"].items())), g["count"], g["revenue_potential"]) for g in groups
        }

    assert as_set(one) == as_set(two)
    assert [g["key"] for g in one] == [
        {"crm_status": "Angebot erstellt", "company_size": "10-49"},
        {"crm_status": "Bedarf ermittelt", "company_size": "10-49"},
        {"crm_status": "Bedarf ermittelt", "company_size": "250+"},
    ]

    # a multi-valued field counts an opportunity once in each of its groups
    products = await dashboard(any_api, {**w.base, "group_by": "product"})
    assert [(g["key"]["product"], g["count"]) for g in products] == [
        ("CRM Cloud", 1),
        ("Support", 2),
        (None, 1),
    ]
    campaigns = await dashboard(any_api, {**w.base, "group_by": "campaign,revenue_group"})
    assert sum(g["count"] for g in campaigns) == 4  # o2 is in two campaigns, o3 in none
    three = await dashboard(any_api, {**w.base, "group_by": "assignee,company_group,revenue_group"})
    assert totals(three) == totals(one)
    by_contact = await dashboard(any_api, {**w.base, "group_by": "contact"})
    assert {g["key"]["contact"] for g in by_contact} == set(w.contacts.values())
    # the ids in the keys come with their names, for a client to label the groups
    named = (
        await any_api.get("/api/dashboard", params={**w.base, "group_by": "contact,campaign"})
    ).json()["names"]
    assert named["contact"][w.contacts["P"]] == "Paula Alpha"
    campaign_names = {
        c: (await any_api.get(f"/api/campaigns/{c}")).json()["name"] for c in w.campaigns.values()
    }
    assert named["campaign"] == campaign_names

    bad = await any_api.get("/api/dashboard", params={"group_by": "crm_status,colour"})
    assert bad.status_code == 422
    assert problem_fields(bad) == ["group_by"]


async def test_exports_match_the_list_and_the_dashboard(any_api: httpx.AsyncClient) -> None:
    w = await World().build(any_api)
    ids = await listed(any_api, w.base)
    response = await any_api.get("/api/opportunities/export", params=w.base)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["id"] for r in rows] == ids
    by_id = {r["id"]: r for r in rows}
    o1 = by_id[w.ids["o1"]]
    assert o1["revenue_potential"] == "10000.00"
    assert o1["products"] == "CRM Cloud;Support"
    assert o1["contact_name"] == "Paula Alpha"
    assert o1["revenue_group"] == "mittel"
    assert o1["company_size"] == "10-49"  # Paula's company's, not her own

    params = {**w.base, "group_by": "crm_status,product"}
    groups = await dashboard(any_api, params)
    exported = await any_api.get("/api/dashboard/export", params=params)
    assert exported.status_code == 200
    lines = list(csv.DictReader(io.StringIO(exported.text)))
    assert [
        (r["crm_status"], r["product"] or None, int(r["count"]), r["weighted_revenue"])
        for r in lines
    ] == [
        (g["key"]["crm_status"], g["key"]["product"], g["count"], g["weighted_revenue"])
        for g in groups
    ]


async def test_keyset_pages_cover_the_list_once(api: httpx.AsyncClient) -> None:
    contact = await create_contact(api)
    assignee = str(uuid.uuid4())
    made = [
        (await create_opportunity(api, contact["id"], assignee_id=assignee, title=f"#{n}"))["id"]
        for n in range(5)
    ]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"assignee_id": assignee, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/api/opportunities", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(made))  # newest first, each once


async def test_events_and_gdpr_erase(api: httpx.AsyncClient, stack: Stack) -> None:
    contact = await create_contact(api)
    opportunity = await create_opportunity(api, contact["id"], revenue_potential=99.5)
    url = f"/api/opportunities/{opportunity['id']}"
    await api.patch(url, json={"crm_status": "Verhandlung"})
    assert (await api.delete(f"/api/contacts/{contact['id']}")).status_code == 204

    async def erased() -> bool:
        return (await api.get(url)).status_code == 404

    assert await eventually(erased, "the deleted contact's opportunity is gone")
    found: dict[str, dict] = {}

    def collect(record: Any) -> bool:
        value = json.loads(record.value)
        if value["data"].get("opportunity_id") == opportunity["id"]:
            found[value["type"]] = value
        return "crm.OpportunityDeleted.v1" in found

    assert await read_topic(stack.config.kafka_bootstrap, "crm.opportunities", collect, timeout=15)
    created = found["crm.OpportunityCreated.v1"]
    assert created["subject"] == contact["id"]
    assert created["data"]["revenue_potential"] == "99.50"
    updated = found["crm.OpportunityUpdated.v1"]["data"]
    assert updated["changed"] == ["crm_status"]
    assert updated["version"] == 2


async def test_the_dashboard_follows_the_revenue_groups_and_company_facts(
    any_api: httpx.AsyncClient,
) -> None:
    w = await World().build(any_api)
    by_group = await dashboard(any_api, {**w.base, "group_by": "revenue_group"})
    # revenue groups in the admin's list order
    assert [(g["key"]["revenue_group"], g["count"]) for g in by_group] == [
        ("klein", 1),
        ("mittel", 1),
        ("groß", 1),
    ]
    before = (await any_api.get("/api/crm/settings")).json()
    changed = {**before, "revenue_groups": [{"name": "bis 20.000", "min": 0, "max": 20000}]}
    try:
        saved = await any_api.put("/api/crm/settings", json=changed)
        assert saved.status_code == 200, saved.text
        regrouped = await dashboard(any_api, {**w.base, "group_by": "revenue_group"})
        assert [(g["key"]["revenue_group"], g["count"]) for g in regrouped] == [
            ("bis 20.000", 2),
            (None, 1),  # 60,000 is in no group now
        ]
        [small] = await dashboard(any_api, {**w.base, "revenue_group": "bis 20.000"})
        assert small["count"] == 2
    finally:
        restored = await any_api.put("/api/crm/settings", json=before)
        assert restored.status_code == 200, restored.text
    assert await dashboard(any_api, {**w.base, "group_by": "revenue_group"}) == by_group

    # the company's facts change: the dashboard follows for it and its contact person
    patched = await any_api.patch(
        f"/api/contacts/{w.contacts['A']}", json={"crm": {"company_size": "50-249"}}
    )
    assert patched.status_code == 200, patched.text

    async def moved() -> bool:
        groups = await dashboard(any_api, {**w.base, "group_by": "company_size"})
        return [(g["key"]["company_size"], g["count"]) for g in groups] == [
            ("250+", 1),
            ("50-249", 2),
        ]

    assert await eventually(moved, "the dashboard follows the company's new size")
    # unknown values match nothing (no code was ever given to them)
    [none] = await dashboard(any_api, {**w.base, "product": "Gibt es nicht"})
    assert none["count"] == 0
