"""Staff through the gateway of the real stack: the first admin is announced like anybody,
and staff members can be changed (``PATCH /api/staff/{id}``) with their event."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from crm_dev.stack import Stack
from crm_dev.testing import read_topic


async def new_staff(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {
        "username": f"staff-{uuid.uuid4().hex[:8]}",
        "password": "geheim-123",
        "name": "Bernd Berater",
        "email": f"bernd-{uuid.uuid4().hex[:6]}@firma.example",
        "roles": ["crm_user"],
        **fields,
    }
    response = await api.post("/api/staff", json=body)
    assert response.status_code == 201, response.text
    staff: dict[str, Any] = response.json()
    return staff


def staff_event(kind: str, staff_id: str) -> Any:
    def match(record: Any) -> bool:
        body = json.loads(record.value)
        return body["type"] == f"crm.{kind}.v1" and body["subject"] == staff_id

    return match


async def test_the_first_admin_is_announced(api: httpx.AsyncClient, stack: Stack) -> None:
    me = (await api.get("/api/me")).json()
    record = await read_topic(
        stack.config.kafka_bootstrap, "crm.staff", staff_event("StaffCreated", me["id"])
    )
    assert record is not None, "no StaffCreated for the admin created at start"
    assert json.loads(record.value)["data"]["email"] == me["email"]


async def test_an_admin_changes_a_staff_member_and_the_change_is_an_event(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    staff = await new_staff(api)
    changed = await api.patch(
        f"/api/staff/{staff['id']}",
        json={"name": "Bernd Neu", "email": None, "language": "en", "roles": ["admin"]},
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["name"], body["email"], body["language"], body["roles"]) == (
        "Bernd Neu",
        None,
        "en",
        ["admin"],
    )
    record = await read_topic(
        stack.config.kafka_bootstrap, "crm.staff", staff_event("StaffUpdated", staff["id"])
    )
    assert record is not None
    data = json.loads(record.value)["data"]
    assert (data["name"], data["email"], data["roles"]) == ("Bernd Neu", None, ["admin"])
    listed = {s["id"]: s for s in (await api.get("/api/staff")).json()["items"]}
    assert listed[staff["id"]]["name"] == "Bernd Neu"

    off = await api.patch(
        f"/api/staff/{staff['id']}", json={"active": False, "password": "neu-geheim-1"}
    )
    assert off.status_code == 200 and off.json()["active"] is False
    login = await api.post(
        "/api/auth/token", json={"username": staff["username"], "password": "neu-geheim-1"}
    )
    assert login.status_code == 401, "a deactivated staff member cannot sign in"


async def test_staff_changes_are_checked(api: httpx.AsyncClient, stack: Stack) -> None:
    staff = await new_staff(api)
    for body, field in (
        ({"email": "kein-at"}, "email"),
        ({"username": "neu"}, "username"),
        ({"roles": []}, "roles"),
        ({"name": None}, "name"),
    ):
        bad = await api.patch(f"/api/staff/{staff['id']}", json=body)
        assert bad.status_code == 422, (body, bad.text)
        assert {e["field"] for e in bad.json()["errors"]} == {field}, bad.json()
    assert (await api.patch(f"/api/staff/{uuid.uuid4()}", json={"name": "x"})).status_code == 404
    token = (
        await api.post(
            "/api/auth/token", json={"username": staff["username"], "password": "geheim-123"}
        )
    ).json()["access_token"]
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {token}"}
    ) as user:
        refused = await user.patch(f"/api/staff/{staff['id']}", json={"name": "Ich selbst"})
        assert refused.status_code == 403, "only admins change staff"
    # the last active admin keeps the role: every other admin is taken away first
    admins = [s for s in (await api.get("/api/staff")).json()["items"] if "admin" in s["roles"]]
    me = (await api.get("/api/me")).json()
    for other in admins:
        if other["id"] != me["id"] and other["active"]:
            await api.patch(f"/api/staff/{other['id']}", json={"active": False})
    last = await api.patch(f"/api/staff/{me['id']}", json={"roles": ["crm_user"]})
    assert last.status_code == 409, last.text
    assert (await api.patch(f"/api/staff/{me['id']}", json={"active": False})).status_code == 409
