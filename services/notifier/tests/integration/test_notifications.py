"""Staff push notifications on real Kafka, Redis and PostgreSQL/SQLite: stored, listed,
marked read, and streamed live through the gateway (server-sent events)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.header import decode_header, make_header
from typing import Any

import httpx

from crm_dev.stack import Stack
from crm_dev.testing import Mailbox
from crm_dev.testkit import eventually
from crm_notifier.deps import PUSH_GROUP
from crm_shared.events import (
    Assignment,
    CompetenceChanged,
    ContactAssigned,
    ContactCreated,
    ContactUpdated,
    PortalMessageReceived,
    ReminderDue,
    Topic,
    make_event,
)
from crm_shared.kafka import EventProducer
from crm_shared.lag import consumer_lag


def auth(staff: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {staff['token']}"}


async def notifications(
    api: httpx.AsyncClient, staff: dict[str, Any], **params: Any
) -> dict[str, Any]:
    response = await api.get("/api/notifications", headers=auth(staff), params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def notified(
    api: httpx.AsyncClient, staff: dict[str, Any], count: int, timeout: float = 10
) -> list[dict[str, Any]]:
    """The staff member's notifications, once there are at least ``count``."""

    async def enough() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = (await notifications(api, staff))["items"]
        return items if len(items) >= count else None

    return await eventually(enough, f"{count} notifications of {staff['username']}", timeout)


async def push_group_has_read(bootstrap: str, topics: list[str]) -> bool:
    """Whether the notifier's push group has handled everything on ``topics``."""
    lags = await consumer_lag(bootstrap, reads={PUSH_GROUP: topics})
    return all(item.lag == 0 for item in lags if item.topic in topics)


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    event, data = "message", []
    async for line in response.aiter_lines():
        if line.startswith(":"):
            continue  # heartbeat comment
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and data:
            yield event, "\n".join(data)
            event, data = "message", []


def contact(assignment: Assignment, version: int, contact_id: str | None = None) -> Any:
    cls = ContactCreated if version == 1 else ContactUpdated
    return cls(
        contact_id=contact_id or str(uuid.uuid4()),
        kind="person",
        name="Erika Mustermann",
        status="customer",
        assignment=assignment,
        version=version,
    )


async def test_assignment_reaches_the_live_stream_within_a_second(
    stack: Stack, api: httpx.AsyncClient, kit: Any
) -> None:
    staff = await kit.new_staff(api)
    assigned = ContactAssigned(
        contact_id=str(uuid.uuid4()),
        contact_name="Erika Mustermann",
        assignment=Assignment(mode="staff", staff_id=staff["id"]),
        notify_staff_ids=[staff["id"]],
        version=2,
    )
    producer = EventProducer(stack.config.kafka_bootstrap, client_id="test")
    await producer.start()
    timeout = httpx.Timeout(10, read=30)
    try:
        async with (
            httpx.AsyncClient(base_url=stack.gateway_url, timeout=timeout) as client,
            client.stream("GET", "/api/notifications/stream", headers=auth(staff)) as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = sse_events(response)
            name, data = await asyncio.wait_for(anext(events), 10)
            assert (name, json.loads(data)) == ("ready", {"staff_id": staff["id"]})

            started = time.monotonic()
            await producer.publish(Topic.CONTACTS, make_event(assigned, source="/crm/test"))
            name, data = await asyncio.wait_for(anext(events), 5)
            elapsed = time.monotonic() - started
    finally:
        await producer.stop()
    assert name == "notification"
    pushed = json.loads(data)
    assert elapsed < 1.0, f"the notification took {elapsed:.3f}s"
    assert pushed["kind"] == "contact_assigned"
    assert pushed["contact_id"] == assigned.contact_id
    assert pushed["title"] == "Ihnen wurde der Kontakt Erika Mustermann zugewiesen"

    page = await notifications(api, staff)
    assert [n["id"] for n in page["items"]] == [pushed["id"]]
    assert page["unread"] == 1
    response = await api.post(f"/api/notifications/{pushed['id']}/read", headers=auth(staff))
    assert response.status_code == 200 and response.json()["read_at"] is not None
    assert (await notifications(api, staff))["unread"] == 0
    # nobody else's notification can be marked
    other = await kit.new_staff(api)
    response = await api.post(f"/api/notifications/{pushed['id']}/read", headers=auth(other))
    assert response.status_code == 404


async def test_stream_needs_a_staff_token(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url) as client:
        response = await client.get("/api/notifications/stream")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_portal_message_goes_to_the_assigned_staff_and_competence(
    stack: Stack, api: httpx.AsyncClient, kit: Any
) -> None:
    bootstrap = stack.config.kafka_bootstrap
    one, two, three = [await kit.new_staff(api, language=lang) for lang in ("de", "en", "de")]
    competence = CompetenceChanged(
        competence_id=str(uuid.uuid4()), name="Vertrieb", member_ids=[two["id"], three["id"]]
    )
    by_staff = contact(Assignment(mode="staff", staff_id=one["id"]), 1)
    by_competence = contact(Assignment(mode="staff", staff_id=one["id"]), 1)
    moved = contact(
        Assignment(mode="competence", competence_id=competence.competence_id),
        2,
        by_competence.contact_id,
    )

    def message(of: Any) -> PortalMessageReceived:
        return PortalMessageReceived(
            interaction_id=str(uuid.uuid4()),
            contact_id=of.contact_id,
            contact_name=of.name,
            topic="Lieferung",
            text="Wann kommt meine Lieferung?",
            received_at=datetime.now(UTC),
        )

    await kit.publish(bootstrap, competence, by_staff, by_competence, moved)
    copies = [Topic.STAFF.value, Topic.CONTACTS.value]  # other topics than the messages'
    await eventually(lambda: push_group_has_read(bootstrap, copies), "the copies", 20)
    await kit.publish(bootstrap, message(by_staff), message(by_competence))

    [first] = await notified(api, one, 1)
    assert first["kind"] == "portal_message"
    assert first["title"] == "Neue Portalnachricht von Erika Mustermann: Lieferung"
    assert first["contact_id"] == by_staff.contact_id
    [english] = await notified(api, two, 1)
    assert english["title"] == "New portal message from Erika Mustermann: Lieferung"
    assert english["contact_id"] == by_competence.contact_id
    assert len(await notified(api, three, 1)) == 1
    await asyncio.sleep(1)  # a second one for the first staff member would show by now
    assert len((await notifications(api, one))["items"]) == 1


async def test_reminder_due_is_pushed_and_the_email_stage_mailed(
    stack: Stack, api: httpx.AsyncClient, kit: Any, mail: Mailbox
) -> None:
    staff = await kit.new_staff(api)
    common = {
        "reminder_id": str(uuid.uuid4()),
        "contact_id": str(uuid.uuid4()),
        "staff_id": staff["id"],
        "due_at": datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        "subject": "Rückruf Angebot",
        "procedure_id": str(uuid.uuid4()),
        "staff_email": staff["email"],
        "staff_language": "de",
    }
    await kit.publish(
        stack.config.kafka_bootstrap,
        ReminderDue(**common, stage="email"),
        ReminderDue(**common, stage="due"),
    )
    [pushed] = await notified(api, staff, 1)
    assert pushed["kind"] == "reminder_due"
    assert pushed["title"] == "Erinnerung: Rückruf Angebot"
    assert pushed["body"] == "Fällig am 01.12.2026 10:30"  # Europe/Berlin
    assert pushed["link"] == f"/procedures/{common['procedure_id']}"
    [message] = mail.wait_for(staff["email"], timeout=10)
    subject = str(make_header(decode_header(message["Subject"])))
    assert subject == "Erinnerung: Rückruf Angebot am 01.12.2026 10:30"
    assert len(mail.wait_for(staff["email"], count=2, timeout=2)) == 1


async def test_list_is_newest_first_paginated_and_read_all(
    stack: Stack, api: httpx.AsyncClient, kit: Any
) -> None:
    staff = await kit.new_staff(api)
    events = [
        ContactAssigned(
            contact_id=str(uuid.uuid4()),
            contact_name=f"Kontakt {i}",
            assignment=Assignment(mode="staff", staff_id=staff["id"]),
            notify_staff_ids=[staff["id"]],
            version=1,
        )
        for i in range(5)
    ]
    for event in events:  # one by one, so their order is known
        await kit.publish(stack.config.kafka_bootstrap, event)
        await notified(api, staff, events.index(event) + 1)
    first = await notifications(api, staff, limit=2)
    second = await notifications(api, staff, limit=2, cursor=first["next_cursor"])
    third = await notifications(api, staff, limit=2, cursor=second["next_cursor"])
    names = [n["title"] for page in (first, second, third) for n in page["items"]]
    assert names == [f"Ihnen wurde der Kontakt Kontakt {i} zugewiesen" for i in range(4, -1, -1)]
    assert third["next_cursor"] is None
    response = await api.post("/api/notifications/read-all", headers=auth(staff))
    assert response.json() == {"updated": 5}
    assert (await notifications(api, staff))["unread"] == 0
    assert (await notifications(api, staff, unread="true"))["items"] == []
    bad = await api.get("/api/notifications", headers=auth(staff), params={"cursor": "x"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"
