"""Interactions (seed 001) through the gateway: recorder, reply-to, credit hold, refusals,
deletion, GDPR erase."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from ix_support import (
    create_contact,
    create_staff,
    log_interaction,
    plan,
    procedure_body,
    token_of,
    unique_email,
)

from crm_dev.stack import Stack
from crm_dev.testing import Mailbox, read_topic
from crm_dev.testkit import eventually


async def test_recorder_may_be_another_staff_member_whose_address_is_the_reply_to(
    api: httpx.AsyncClient, mail: Mailbox
) -> None:
    colleague_email = unique_email()
    colleague = await create_staff(api, email=colleague_email, name="Anna Zander")
    contact = await create_contact(api)

    async def logged() -> dict | None:
        response = await api.post(
            "/api/interactions",
            json={
                "contact_id": contact["id"],
                "topic": "Anruf",
                "kind": "outgoing",
                "text": "Wir melden uns",
                "recorded_by": colleague["id"],
            },
        )
        return response.json() if response.status_code == 201 else None

    # the staff member arrives by StaffCreated from the gateway; the API waits a little
    interaction = await eventually(logged, what="interaction recorded by a colleague")
    assert interaction["recorded_by"] == {
        "staff_id": colleague["id"],
        "name": "Anna Zander",
        "initials": "PV",
        "email": colleague_email,
    }
    assert interaction["reply_to"] == colleague_email
    [message] = mail.wait_for(contact["email"], timeout=10)
    assert message["Reply-To"] == colleague_email


async def test_unknown_recorder_is_refused_naming_the_field(api: httpx.AsyncClient) -> None:
    contact = await create_contact(api)
    response = await api.post(
        "/api/interactions",
        json={
            "contact_id": contact["id"],
            "topic": "x",
            "kind": "internal",
            "text": "y",
            "recorded_by": str(uuid.uuid4()),
        },
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "recorded_by"


async def test_list_sorts_by_recorder(api: httpx.AsyncClient) -> None:
    zora = await create_staff(api, email=unique_email(), name="Zora Zimmer")
    contact = await create_contact(api)
    await log_interaction(api, contact["id"])  # recorded by "Administrator"

    async def by_zora() -> bool:
        response = await api.post(
            "/api/interactions",
            json={
                "contact_id": contact["id"],
                "topic": "t",
                "kind": "internal",
                "text": "z",
                "recorded_by": zora["id"],
            },
        )
        return response.status_code == 201

    await eventually(by_zora, what="interaction recorded by Zora")
    await log_interaction(api, contact["id"])
    response = await api.get(
        "/api/interactions", params={"contact_id": contact["id"], "sort": "recorded_by"}
    )
    names = [item["recorded_by"]["name"] for item in response.json()["items"]]
    assert names == ["Administrator", "Administrator", "Zora Zimmer"]


async def test_staff_without_email_cannot_send_but_may_note_internally(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    staff = await create_staff(api)  # no email
    token = await token_of(api, staff)
    contact = await create_contact(api)
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        for kind in ("incoming", "outgoing"):
            refused = await client.post(
                "/api/interactions",
                json={"contact_id": contact["id"], "topic": "x", "kind": kind, "text": "y"},
            )
            assert refused.status_code == 422
            problem = refused.json()
            assert problem["errors"][0]["field"] == "kind"
            assert "email address" in problem["detail"]
        internal = await client.post(
            "/api/interactions",
            json={"contact_id": contact["id"], "topic": "x", "kind": "internal", "text": "y"},
        )
        assert internal.status_code == 201


async def test_outgoing_is_emailed_once_and_internal_never(
    api: httpx.AsyncClient, mail: Mailbox
) -> None:
    contact = await create_contact(api)
    await log_interaction(api, contact["id"], "internal", topic="Nur intern")
    await log_interaction(api, contact["id"], "outgoing", topic="Ihr Angebot")
    mails = mail.wait_for(contact["email"], timeout=10)
    assert len(mails) == 1
    assert "Ihr Angebot" in mails[0]["Subject"]
    assert mails[0]["Reply-To"] == "admin@localhost"
    # nothing else turns up: not the internal one, not a second copy
    assert len(mail.wait_for(contact["email"], count=2, timeout=3)) == 1


async def test_credit_hold_shows_on_the_next_interaction(any_api: httpx.AsyncClient) -> None:
    contact = await create_contact(any_api)
    first = await log_interaction(any_api, contact["id"])
    assert first["contact"] == {"name": "Erika Mustermann", "credit_hold": False}
    response = await any_api.patch(f"/api/contacts/{contact['id']}", json={"credit_hold": True})
    assert response.status_code == 200

    async def held() -> bool:  # eventually, by events only: no call to contacts
        interaction = await log_interaction(any_api, contact["id"])
        return bool(interaction["contact"]["credit_hold"])

    await eventually(held, what="credit hold on the interaction")
    fetched = await any_api.get(f"/api/interactions/{first['id']}")
    assert fetched.json()["contact"]["credit_hold"] is True


async def test_inbox_contact_is_refused_with_409(any_api: httpx.AsyncClient) -> None:
    contact = await create_contact(any_api, status="inbox")
    response = await any_api.post(
        "/api/interactions",
        json={"contact_id": contact["id"], "topic": "x", "kind": "internal", "text": "y"},
    )
    assert response.status_code == 409
    assert "inbox" in response.json()["detail"]


@pytest.mark.parametrize("status", ["inbox", "archived"])
async def test_limited_contact_is_refused_naming_its_status_until_lifted(
    any_api: httpx.AsyncClient, status: str
) -> None:
    """Seed 002: no interaction or procedure for a contact in the inbox or archived; once
    accepted or restored it takes them at once (the copy is read no older than that)."""
    contact = await create_contact(any_api, status="inbox" if status == "inbox" else "prospect")
    if status == "archived":
        archived = await any_api.post(
            f"/api/contacts/{contact['id']}/status", json={"status": "archived"}
        )
        assert archived.status_code == 200, archived.text
    attempts = [
        (
            "/api/interactions",
            {"contact_id": contact["id"], "topic": "x", "kind": "internal", "text": "y"},
        ),
        ("/api/procedures", procedure_body(contact["id"])),
    ]
    for path, body in attempts:
        refused = await any_api.post(path, json=body)
        assert refused.status_code == 409, refused.text
        assert refused.json()["contact_status"] == status
        assert status in refused.json()["detail"]
    lift = {"status": "prospect"} if status == "inbox" else {"status": "restore"}
    lifted = await any_api.post(f"/api/contacts/{contact['id']}/status", json=lift)
    assert lifted.status_code == 200, lifted.text
    for path, body in attempts:
        accepted = await any_api.post(path, json=body)
        assert accepted.status_code == 201, accepted.text


async def test_unknown_contact_is_422(any_api: httpx.AsyncClient) -> None:
    response = await any_api.post(
        "/api/interactions",
        json={"contact_id": str(uuid.uuid4()), "topic": "x", "kind": "internal", "text": "y"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "contact_id"


async def test_delete_whatever_the_kind_and_events_for_each_change(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    contact = await create_contact(api)
    interaction = await log_interaction(api, contact["id"], "outgoing", follow_up_on="2030-01-15")
    changed = await api.patch(
        f"/api/interactions/{interaction['id']}", json={"text": "Neuer Text", "reference": "R-1"}
    )
    assert changed.status_code == 200
    assert changed.json()["text"] == "Neuer Text"
    deleted = await api.delete(f"/api/interactions/{interaction['id']}")
    assert deleted.status_code == 204
    assert (await api.get(f"/api/interactions/{interaction['id']}")).status_code == 404

    seen: list[str] = []

    def collect(record: object) -> bool:
        body = json.loads(record.value)  # type: ignore[attr-defined]
        if body["data"].get("interaction_id") == interaction["id"]:
            seen.append(body["type"])
        return "crm.InteractionDeleted.v1" in seen

    await read_topic(stack.config.kafka_bootstrap, "crm.interactions", collect)
    assert seen == [
        "crm.InteractionLogged.v1",
        "crm.InteractionUpdated.v1",
        "crm.InteractionDeleted.v1",
    ]


async def test_deleted_contact_is_erased_and_refused_with_404(any_api: httpx.AsyncClient) -> None:
    contact = await create_contact(any_api)
    interaction = await log_interaction(any_api, contact["id"])
    procedure = await plan(any_api, contact["id"])
    assert (await any_api.delete(f"/api/contacts/{contact['id']}")).status_code == 204

    async def erased() -> bool:
        response = await any_api.get(f"/api/interactions/{interaction['id']}")
        return response.status_code == 404

    await eventually(erased, what="GDPR erase of the interaction")
    assert (await any_api.get(f"/api/procedures/{procedure['id']}")).status_code == 404
    listed = await any_api.get("/api/interactions", params={"contact_id": contact["id"]})
    assert listed.json()["items"] == []
    refused = await any_api.post(
        "/api/interactions",
        json={"contact_id": contact["id"], "topic": "x", "kind": "internal", "text": "y"},
    )
    assert refused.status_code == 404
    refused_procedure = await any_api.post(
        "/api/procedures",
        json={
            "contact_id": contact["id"],
            "type": "call",
            "direction": "outgoing",
            "state": "planned",
            "starts_at": "2030-01-01T10:00:00+01:00",
            "duration_minutes": 0,
            "reminder": False,
            "subject": "x",
        },
    )
    assert refused_procedure.status_code == 404
