"""Helpers of the interactions service's tests: everything goes through the gateway."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

import httpx

from crm_shared.events import CampaignCreated, CampaignRetired, Topic, make_event
from crm_shared.kafka import EventProducer


def unique_email() -> str:
    return f"kunde-{uuid.uuid4().hex[:12]}@example.com"


async def create_contact(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"kind": "person", "name": "Erika Mustermann", "email": unique_email(), **fields}
    response = await api.post("/api/contacts", json=body)
    assert response.status_code == 201, response.text
    contact: dict[str, Any] = response.json()
    return contact


async def log_interaction(
    api: httpx.AsyncClient, contact_id: str, kind: str = "internal", **fields: Any
) -> dict[str, Any]:
    body = {"contact_id": contact_id, "topic": "Rückruf", "kind": kind, "text": "Text", **fields}
    response = await api.post("/api/interactions", json=body)
    assert response.status_code == 201, response.text
    interaction: dict[str, Any] = response.json()
    return interaction


def in_days(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).isoformat()


def procedure_body(contact_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "contact_id": contact_id,
        "type": "call",
        "direction": "outgoing",
        "state": "planned",
        "starts_at": in_days(7),
        "duration_minutes": 0,
        "reminder": True,
        "subject": "Angebot nachfassen",
        **fields,
    }


async def plan(api: httpx.AsyncClient, contact_id: str, **fields: Any) -> dict[str, Any]:
    response = await api.post("/api/procedures", json=procedure_body(contact_id, **fields))
    assert response.status_code == 201, response.text
    procedure: dict[str, Any] = response.json()
    return procedure


async def create_staff(
    api: httpx.AsyncClient, *, email: str | None = None, name: str = "Petra Vertrieb"
) -> dict[str, Any]:
    username = f"staff-{uuid.uuid4().hex[:8]}"
    body: dict[str, Any] = {
        "username": username,
        "password": "geheim-123",
        "name": name,
        "initials": "PV",
        "roles": ["crm_user"],
    }
    if email:
        body["email"] = email
    response = await api.post("/api/staff", json=body)
    assert response.status_code == 201, response.text
    staff: dict[str, Any] = response.json()
    staff["password"] = "geheim-123"
    return staff


async def token_of(api: httpx.AsyncClient, staff: dict[str, Any]) -> str:
    response = await api.post(
        "/api/auth/token", json={"username": staff["username"], "password": staff["password"]}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def publish_campaign(
    producer: EventProducer, name: str = "Frühjahrsaktion", *, retired: bool = False
) -> str:
    """A campaign as the campaigns service would announce it (built elsewhere)."""
    campaign_id = str(uuid.uuid4())
    created = CampaignCreated(
        campaign_id=campaign_id,
        name=name,
        starts_on=datetime.now(UTC).date(),
        ends_on=(datetime.now(UTC) + timedelta(days=60)).date(),
    )
    await producer.publish(Topic.CAMPAIGNS, make_event(created, source="/crm/campaigns"))
    if retired:
        await retire_campaign(producer, campaign_id, name)
    return campaign_id


async def retire_campaign(producer: EventProducer, campaign_id: str, name: str) -> None:
    event = CampaignRetired(campaign_id=campaign_id, name=name)
    await producer.publish(Topic.CAMPAIGNS, make_event(event, source="/crm/campaigns"))


def body_of(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def login_token(message: Message) -> str:
    match = re.search(r"/portal/login\?token=([A-Za-z0-9_\-]+)", body_of(message))
    assert match, body_of(message)
    return match.group(1)


def is_login_mail(message: Message) -> bool:
    return "/portal/login?token=" in body_of(message)
