"""Competences through the gateway of the real stack: an admin renames one or sets its
members (``PATCH /api/competences/{id}``), announced as ``CompetenceChanged``, and a member
added later gets what the competence's members get (contacts assigned to it, their
portal messages)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from crm_dev.stack import Stack
from crm_dev.testing import read_topic
from crm_dev.testkit import eventually
from crm_shared.events import PortalMessageReceived


async def new_competence(api: httpx.AsyncClient, member_ids: list[str]) -> dict[str, Any]:
    made = await api.post(
        "/api/competences",
        json={"name": f"Vertrieb {uuid.uuid4().hex[:8]}", "member_ids": member_ids},
    )
    assert made.status_code == 201, made.text
    competence: dict[str, Any] = made.json()
    return competence


def competence_event(competence_id: str, member_ids: list[str]) -> Any:
    def match(record: Any) -> bool:
        body = json.loads(record.value)
        return (
            body["type"] == "crm.CompetenceChanged.v1"
            and body["subject"] == competence_id
            and body["data"]["member_ids"] == member_ids
        )

    return match


async def test_an_admin_renames_a_competence_and_sets_its_members(
    api: httpx.AsyncClient, stack: Stack, kit: Any
) -> None:
    one, two = [await kit.new_staff(api) for _ in range(2)]
    competence = await new_competence(api, [one["id"]])
    name = f"Service {uuid.uuid4().hex[:8]}"
    changed = await api.patch(
        f"/api/competences/{competence['id']}",
        json={"name": name, "member_ids": [two["id"], one["id"], two["id"]]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json() == {
        "id": competence["id"],
        "name": name,
        "member_ids": [two["id"], one["id"]],
    }
    listed = {c["id"]: c for c in (await api.get("/api/competences")).json()["items"]}
    assert listed[competence["id"]]["member_ids"] == [two["id"], one["id"]]
    record = await read_topic(
        stack.config.kafka_bootstrap,
        "crm.staff",
        competence_event(competence["id"], [two["id"], one["id"]]),
    )
    assert record is not None, "no CompetenceChanged with the new members"
    assert json.loads(record.value)["data"]["name"] == name

    # only the members: the name stays
    fewer = await api.patch(f"/api/competences/{competence['id']}", json={"member_ids": []})
    assert fewer.status_code == 200, fewer.text
    assert (fewer.json()["name"], fewer.json()["member_ids"]) == (name, [])


async def test_competence_changes_are_checked(
    api: httpx.AsyncClient, stack: Stack, kit: Any
) -> None:
    staff = await kit.new_staff(api)
    competence = await new_competence(api, [staff["id"]])
    other = await new_competence(api, [])
    url = f"/api/competences/{competence['id']}"
    unknown = await api.patch(url, json={"member_ids": [staff["id"], str(uuid.uuid4())]})
    assert unknown.status_code == 422, unknown.text
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in unknown.json()["errors"]] == ["member_ids"]
    for body in ({"name": ""}, {"name": None}, {"member_ids": None}, {"id": "x"}):
        assert (await api.patch(url, json=body)).status_code == 422, body
    taken = await api.patch(url, json={"name": other["name"]})
    assert taken.status_code == 409, taken.text
    assert taken.json()["field"] == "name"
    same = await api.patch(url, json={"name": competence["name"]})
    assert same.status_code == 200, "its own name is not taken"
    missing = await api.patch(f"/api/competences/{uuid.uuid4()}", json={"name": "x"})
    assert missing.status_code == 404, missing.text
    assert missing.headers["content-type"].startswith("application/problem+json")

    user = {"Authorization": f"Bearer {staff['token']}"}
    refused = await api.patch(url, json={"member_ids": []}, headers=user)
    assert refused.status_code == 403, "only admins change competences"
    listed = {c["id"]: c for c in (await api.get("/api/competences")).json()["items"]}
    assert listed[competence["id"]]["member_ids"] == [staff["id"]], "nothing changed"


async def test_a_member_added_later_gets_the_competences_contacts_and_messages(
    api: httpx.AsyncClient, stack: Stack, kit: Any
) -> None:
    first, later = [await kit.new_staff(api) for _ in range(2)]
    competence = await new_competence(api, [first["id"]])
    made = await api.post(
        "/api/contacts",
        json={
            "kind": "person",
            "name": f"Erika {uuid.uuid4().hex[:8]}",
            "assignment": {"mode": "competence", "competence_id": competence["id"]},
        },
    )
    assert made.status_code == 201, made.text
    contact = made.json()
    changed = await api.patch(
        f"/api/competences/{competence['id']}", json={"member_ids": [first["id"], later["id"]]}
    )
    assert changed.status_code == 200, changed.text

    async def in_the_later_members_list() -> bool:
        found = await api.get("/api/contacts", params={"assigned_to": later["id"]})
        assert found.status_code == 200, found.text
        return contact["id"] in {c["id"] for c in found.json()["items"]}

    await eventually(in_the_later_members_list, "the contact among the new member's")

    # the notifier's copy of the competence comes from another topic than the messages:
    # a message sent before it follows is pushed to the old members, so send another
    sent: list[float] = []

    async def notified() -> list[dict[str, Any]]:
        if not sent or time.monotonic() - sent[-1] > 3:
            sent.append(time.monotonic())
            await kit.publish(
                stack.config.kafka_bootstrap,
                PortalMessageReceived(
                    interaction_id=str(uuid.uuid4()),
                    contact_id=contact["id"],
                    contact_name=contact["name"],
                    topic="Lieferung",
                    text="Wann kommt meine Lieferung?",
                    received_at=datetime.now(UTC),
                ),
            )
        answer = await api.get(
            "/api/notifications", headers={"Authorization": f"Bearer {later['token']}"}
        )
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return [n for n in items if n["contact_id"] == contact["id"]]

    [message, *_] = await eventually(notified, "the portal message at the new member", 20)
    assert message["kind"] == "portal_message"
