"""The first flow, end to end through the gateway only (real Kafka, Redis, PG, SMTP)."""

from __future__ import annotations

import json
import time
import uuid

import httpx
from cloudevents.core.bindings.kafka import KafkaMessage, from_structured_event

from crm_dev.stack import Stack
from crm_dev.testing import Mailbox, read_topic


def unique_email() -> str:
    return f"kunde-{uuid.uuid4().hex[:12]}@example.com"


async def create_contact(api: httpx.AsyncClient, **fields: object) -> dict:
    body = {"kind": "person", "name": "Erika Mustermann", "email": unique_email(), **fields}
    response = await api.post("/api/contacts", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def log_interaction(
    api: httpx.AsyncClient, contact_id: str, kind: str, **fields: object
) -> dict:
    body = {
        "contact_id": contact_id,
        "topic": "Rückruf",
        "kind": kind,
        "text": "Bitte zurückrufen",
        **fields,
    }
    response = await api.post("/api/interactions", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_incoming_interaction_emails_the_contact_exactly_once(
    api: httpx.AsyncClient, mail: Mailbox
) -> None:
    contact = await create_contact(api, language="de")
    started = time.monotonic()
    interaction = await log_interaction(api, contact["id"], "incoming", topic="Angebot")

    assert interaction["contact"] == {"name": "Erika Mustermann", "credit_hold": False}
    mails = mail.wait_for(contact["email"], timeout=5)
    elapsed = time.monotonic() - started
    assert len(mails) == 1, f"expected one mail within 5 s, got {len(mails)}"
    assert elapsed < 5
    message = mails[0]
    assert "Angebot" in message["Subject"]
    assert message["Reply-To"] == "admin@localhost"  # the recording staff member
    # no second mail turns up later
    assert len(mail.wait_for(contact["email"], count=2, timeout=2)) == 1


async def test_english_contact_gets_the_english_template(
    api: httpx.AsyncClient, mail: Mailbox
) -> None:
    contact = await create_contact(api, language="en", name="John Smith")
    await log_interaction(api, contact["id"], "incoming", topic="Quote")
    [message] = mail.wait_for(contact["email"], timeout=5)
    assert message["Subject"] == "We have received your message: Quote"
    assert "Hello John Smith" in message.get_payload()


async def test_internal_interaction_sends_nothing(api: httpx.AsyncClient, mail: Mailbox) -> None:
    contact = await create_contact(api)
    await log_interaction(api, contact["id"], "internal", topic="Nur intern")
    # Same contact = same partition: once the later incoming mail is there, the internal
    # interaction before it has been handled too.
    await log_interaction(api, contact["id"], "incoming", topic="Danach")
    mails = mail.wait_for(contact["email"], timeout=5)
    assert [m["Subject"] for m in mails] == ["Wir haben Ihre Nachricht erhalten: Danach"]
    assert len(mail.wait_for(contact["email"], count=2, timeout=2)) == 1


async def test_interaction_event_is_a_cloudevent_keyed_by_contact(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    contact = await create_contact(api)
    interaction = await log_interaction(api, contact["id"], "internal")

    record = await read_topic(
        stack.config.kafka_bootstrap,
        "crm.interactions",
        lambda r: interaction["id"].encode() in r.value,
    )
    assert record is not None, "InteractionLogged not published"
    assert record.key == contact["id"].encode()
    headers = dict(record.headers)
    assert headers["content-type"] == b"application/cloudevents+json"
    # readable by the official CloudEvents SDK (Kafka binding, structured mode)
    event = from_structured_event(KafkaMessage(headers=headers, key=record.key, value=record.value))
    assert event.get_specversion() == "1.0"
    assert event.get_type() == "crm.InteractionLogged.v1"
    assert event.get_source() == "/crm/interactions"
    assert event.get_subject() == contact["id"]
    assert event.get_time() is not None
    uuid.UUID(event.get_id())
    data = event.get_data()
    assert isinstance(data, dict) and data["interaction_id"] == interaction["id"]
    assert json.loads(record.value)["datacontenttype"] == "application/json"


async def test_contact_update_reaches_the_interactions_copy(api: httpx.AsyncClient) -> None:
    contact = await create_contact(api)
    response = await api.patch(f"/api/contacts/{contact['id']}", json={"credit_hold": True})
    assert response.status_code == 200 and response.json()["credit_hold"] is True
    deadline = time.monotonic() + 10
    while True:  # eventually, by events only
        interaction = await log_interaction(api, contact["id"], "internal")
        if interaction["contact"]["credit_hold"] or time.monotonic() > deadline:
            break
    assert interaction["contact"]["credit_hold"] is True


async def test_gateway_requires_a_token(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url) as anonymous:
        response = await anonymous.get("/api/contacts")
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        bad = await anonymous.post("/api/auth/token", json={"username": "admin", "password": "x"})
        assert bad.status_code == 401


async def test_bad_input_is_a_problem_naming_the_field(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/contacts", json={"kind": "alien", "name": ""})
    assert response.status_code == 422
    problem = response.json()
    assert {e["field"] for e in problem["errors"]} == {"kind", "name"}

    unknown = await api.get(f"/api/contacts/{uuid.uuid4()}")
    assert unknown.status_code == 404


async def test_duplicate_customer_number_is_a_conflict(api: httpx.AsyncClient) -> None:
    number = f"K-{uuid.uuid4().hex[:8]}"
    await create_contact(api, customer_number=number)
    response = await api.post(
        "/api/contacts", json={"kind": "company", "name": "Zweite GmbH", "customer_number": number}
    )
    assert response.status_code == 409


async def test_staff_without_email_cannot_log_customer_facing_interactions(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    username = f"ohne-mail-{uuid.uuid4().hex[:6]}"
    created = await api.post(
        "/api/staff",
        json={
            "username": username,
            "password": "geheim-123",
            "name": "Ohne Mail",
            "roles": ["crm_user"],
        },
    )
    assert created.status_code == 201, created.text
    token = (
        await api.post("/api/auth/token", json={"username": username, "password": "geheim-123"})
    ).json()["access_token"]
    contact = await create_contact(api)
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {token}"}
    ) as staff:
        refused = await staff.post(
            "/api/interactions",
            json={"contact_id": contact["id"], "topic": "x", "kind": "outgoing", "text": "y"},
        )
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["field"] == "kind"
        internal = await staff.post(
            "/api/interactions",
            json={"contact_id": contact["id"], "topic": "x", "kind": "internal", "text": "y"},
        )
        assert internal.status_code == 201


async def test_gateway_ready_only_when_every_service_is(stack: Stack) -> None:
    response = httpx.get(f"{stack.gateway_url}/readyz")
    assert response.status_code == 200
    assert set(response.json()["checks"]) >= {
        "kafka",
        "database",
        "contacts",
        "interactions",
        "notifier",
    }


async def test_contact_roundtrip_on_both_databases(any_api: httpx.AsyncClient) -> None:
    contact = await create_contact(any_api, name="Beide Datenbanken")
    fetched = await any_api.get(f"/api/contacts/{contact['id']}")
    assert fetched.status_code == 200 and fetched.json()["name"] == "Beide Datenbanken"
    interaction = await log_interaction(any_api, contact["id"], "internal")
    assert interaction["contact"]["name"] == "Beide Datenbanken"
