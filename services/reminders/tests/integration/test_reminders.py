"""Reminders on real Kafka, Redis, PostgreSQL and SMTP: on time, once, across replicas and
restarts; cleared on completion unless the rule says otherwise; the email at the lead."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from email.header import decode_header, make_header
from typing import Any

import httpx

from crm_dev.servers import free_port
from crm_dev.stack import ServiceProcess, Stack
from crm_dev.testing import Mailbox
from crm_shared.events import (
    ContactCopy,
    InteractionDeleted,
    InteractionLogged,
    ProcedureCompleted,
    ProcedurePlanned,
    StaffRef,
)
from crm_shared.timezones import BERLIN

ADMIN = StaffRef(staff_id=str(uuid.uuid4()), name="Admin")


def planned(contact_id: str, starts_at: datetime, responsible: str | None, **over: Any) -> Any:
    fields: dict[str, Any] = {
        "procedure_id": str(uuid.uuid4()),
        "contact_id": contact_id,
        "responsible_id": responsible,
        "created_by": ADMIN,
        "type": "call",
        "direction": "outgoing",
        "state": "planned",
        "starts_at": starts_at,
        "duration_minutes": 0,
        "reminder": True,
        "subject": f"Rückruf {uuid.uuid4().hex[:6]}",
    }
    fields.update(over)
    return ProcedurePlanned(**fields)


def completed(plan: ProcedurePlanned) -> ProcedureCompleted:
    data = plan.model_dump() | {"state": "done", "duration_minutes": 15}
    return ProcedureCompleted(**data, outcome="done", completed_by=ADMIN)


async def open_reminders(api: httpx.AsyncClient, staff_id: str) -> list[dict[str, Any]]:
    response = await api.get("/api/reminders", params={"staff_id": staff_id})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def set_rules(api: httpx.AsyncClient, **rules: Any) -> None:
    body = {"clear_on_completion": True, "email_lead_hours": 24} | rules
    response = await api.put("/api/reminders/rules", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == body


async def test_due_reminders_fire_once_on_time_with_two_replicas(
    stack: Stack, api: httpx.AsyncClient, kit: Any
) -> None:
    bootstrap = stack.config.kafka_bootstrap
    staff = await kit.new_staff(api)
    port = free_port()
    second = ServiceProcess(
        "reminders",
        port,
        stack.service_env("reminders", {"CRM_REMINDERS_PORT": str(port)}),
        stack.sink,
    )
    second.start()
    try:
        second.wait_ready(150)  # a loaded CI machine can take a while to import
        contact = str(uuid.uuid4())
        async with kit.TopicTail(bootstrap, "crm.reminders") as tail:
            # a warm-up on the same partition: the group has settled with both replicas
            warm = planned(contact, datetime.now(UTC) + timedelta(hours=3), staff["id"])
            await kit.publish(bootstrap, warm)
            await tail.collect(lambda evs: any(e.name == "ReminderCreated" for e in evs), 30)
            assert tail.named("ReminderCreated", procedure_id=warm.procedure_id)

            due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
            plans = [planned(contact, due, staff["id"]) for _ in range(10)]
            await kit.publish(bootstrap, *plans)
            ids = {p.procedure_id for p in plans}

            def all_due(evs: list[Any]) -> bool:
                fired = {
                    e.data["procedure_id"]
                    for e in evs
                    if e.name == "ReminderDue" and e.data["stage"] == "due"
                }
                return ids <= fired

            await tail.collect(all_due, 15)
            await tail.collect(lambda evs: False, 2)  # anything repeated would show now
        for plan in plans:
            fired = tail.named("ReminderDue", procedure_id=plan.procedure_id, stage="due")
            assert len(fired) == 1, f"{plan.procedure_id} fired {len(fired)} times"
            arrived, event = fired[0]
            delay = arrived - due.timestamp()
            assert -0.05 <= delay < 1.0, f"fired {delay:.3f}s after its time"
            assert event.data["staff_email"] == staff["email"]
            # the lead (24 h) had passed at creation: the email stage went out at once, once
            assert (
                len(tail.named("ReminderDue", procedure_id=plan.procedure_id, stage="email")) == 1
            )
    finally:
        second.stop()


async def test_completion_clears_the_reminder(
    stack: Stack, api: httpx.AsyncClient, kit: Any
) -> None:
    bootstrap = stack.config.kafka_bootstrap
    staff = await kit.new_staff(api)
    plan = planned(str(uuid.uuid4()), datetime.now(UTC) + timedelta(days=2), staff["id"])
    async with kit.TopicTail(bootstrap, "crm.reminders") as tail:
        await kit.publish(bootstrap, plan)
        await tail.collect(lambda evs: any(e.name == "ReminderCreated" for e in evs))
        [mine] = await open_reminders(api, staff["id"])
        assert mine["procedure_id"] == plan.procedure_id
        assert mine["subject"] == plan.subject
        assert datetime.fromisoformat(mine["due_at"]) == plan.starts_at

        await kit.publish(bootstrap, completed(plan))
        await tail.collect(lambda evs: any(e.name == "ReminderCleared" for e in evs))
    [(_, cleared)] = tail.named("ReminderCleared")
    assert cleared.data["reason"] == "completed"
    assert cleared.data["reminder_id"] == mine["id"]
    assert await open_reminders(api, staff["id"]) == []


async def test_reminder_stays_after_completion_when_the_rule_is_off(
    stack: Stack, api: httpx.AsyncClient, kit: Any
) -> None:
    bootstrap = stack.config.kafka_bootstrap
    staff = await kit.new_staff(api)
    contact = str(uuid.uuid4())
    plan = planned(contact, datetime.now(UTC) + timedelta(days=2), staff["id"])
    await set_rules(api, clear_on_completion=False)
    try:
        async with kit.TopicTail(bootstrap, "crm.reminders") as tail:
            await kit.publish(bootstrap, plan, completed(plan))
            # a later event on the same partition: once it is handled, so is the completion
            marker = planned(contact, datetime.now(UTC) + timedelta(days=3), staff["id"])
            await kit.publish(bootstrap, marker)
            await tail.collect(
                lambda evs: any(
                    e.name == "ReminderCreated" and e.data["procedure_id"] == marker.procedure_id
                    for e in evs
                )
            )
        assert tail.named("ReminderCleared") == []
        kept = {r["procedure_id"] for r in await open_reminders(api, staff["id"])}
        assert kept == {plan.procedure_id, marker.procedure_id}
    finally:
        await set_rules(api)


async def test_rules_are_admin_only_and_validated(
    stack: Stack, api: httpx.AsyncClient, kit: Any
) -> None:
    staff = await kit.new_staff(api)
    as_staff = {"Authorization": f"Bearer {staff['token']}"}
    response = await api.get("/api/reminders/rules", headers=as_staff)
    assert response.status_code == 200
    assert set(response.json()) == {"clear_on_completion", "email_lead_hours"}
    response = await api.put(
        "/api/reminders/rules",
        json={"clear_on_completion": True, "email_lead_hours": 24},
        headers=as_staff,
    )
    assert response.status_code == 403
    response = await api.put(
        "/api/reminders/rules", json={"clear_on_completion": True, "email_lead_hours": -1}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "email_lead_hours"


async def test_reminder_email_goes_out_at_the_lead_time(
    stack: Stack, api: httpx.AsyncClient, kit: Any, mail: Mailbox
) -> None:
    bootstrap = stack.config.kafka_bootstrap
    staff = await kit.new_staff(api, language="en")
    await set_rules(api, email_lead_hours=1)
    try:
        # due in 1 h 3 s with a 1 h lead: the email stage is due in 3 s, the push in an hour
        email_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
        plan = planned(str(uuid.uuid4()), email_at + timedelta(hours=1), staff["id"])
        async with kit.TopicTail(bootstrap, "crm.reminders") as tail:
            await kit.publish(bootstrap, plan)
            await tail.collect(lambda evs: any(e.name == "ReminderDue" for e in evs), timeout=10)
            await tail.collect(lambda evs: False, 1)
        [(arrived, due)] = tail.named("ReminderDue", procedure_id=plan.procedure_id)
        assert due.data["stage"] == "email"
        assert -0.05 <= arrived - email_at.timestamp() < 1.0
        [created] = tail.named("ReminderCreated", procedure_id=plan.procedure_id)
        assert datetime.fromisoformat(created[1].data["email_at"]) == email_at
        [message] = mail.wait_for(staff["email"], timeout=10)
        subject = str(make_header(decode_header(message["Subject"])))
        assert subject.startswith(f"Reminder: {plan.subject} on ")
        assert len(mail.wait_for(staff["email"], count=2, timeout=2)) == 1
    finally:
        await set_rules(api)


async def test_follow_up_date_is_due_at_eight_in_berlin(
    stack: Stack, api: httpx.AsyncClient, kit: Any
) -> None:
    bootstrap = stack.config.kafka_bootstrap
    staff = await kit.new_staff(api)
    day = date.today() + timedelta(days=7)
    logged = InteractionLogged(
        interaction_id=str(uuid.uuid4()),
        contact_id=str(uuid.uuid4()),
        topic="Angebot nachfassen",
        kind="internal",
        text="...",
        occurred_at=datetime.now(UTC),
        follow_up_on=day,
        recorded_by=staff["ref"],
        contact=ContactCopy(name="Erika Mustermann"),
    )
    async with kit.TopicTail(bootstrap, "crm.reminders") as tail:
        await kit.publish(bootstrap, logged)
        await tail.collect(lambda evs: any(e.name == "ReminderCreated" for e in evs))
        [mine] = await open_reminders(api, staff["id"])
        due = datetime.fromisoformat(mine["due_at"])
        berlin = due.astimezone(BERLIN)
        assert (berlin.date(), berlin.hour, berlin.minute) == (day, 8, 0)
        assert mine["interaction_id"] == logged.interaction_id
        assert mine["subject"] == "Angebot nachfassen"
        await kit.publish(
            bootstrap,
            InteractionDeleted(interaction_id=logged.interaction_id, contact_id=logged.contact_id),
        )
        await tail.collect(lambda evs: any(e.name == "ReminderCleared" for e in evs))
    assert tail.named("ReminderCleared")[0][1].data["reason"] == "deleted"
    assert await open_reminders(api, staff["id"]) == []


async def test_reminder_due_while_the_service_was_down_fires_at_start(
    stack: Stack, api: httpx.AsyncClient, kit: Any
) -> None:
    bootstrap = stack.config.kafka_bootstrap
    staff = await kit.new_staff(api)
    due = datetime.now(UTC) + timedelta(seconds=4)
    plan = planned(str(uuid.uuid4()), due, staff["id"])
    async with kit.TopicTail(bootstrap, "crm.reminders") as tail:
        await kit.publish(bootstrap, plan)
        await tail.collect(lambda evs: any(e.name == "ReminderCreated" for e in evs))
        stack.kill("reminders")  # SIGKILL: down before the due time
        try:
            await asyncio.sleep(max(0.0, due.timestamp() - time.time()) + 1)
            assert tail.named("ReminderDue", stage="due") == []
        finally:
            stack.start("reminders").wait_ready(150)
        await tail.collect(
            lambda evs: any(e.name == "ReminderDue" and e.data["stage"] == "due" for e in evs),
            timeout=10,
        )
        await tail.collect(lambda evs: False, 1)
    assert len(tail.named("ReminderDue", procedure_id=plan.procedure_id, stage="due")) == 1
