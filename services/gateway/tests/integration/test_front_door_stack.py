"""The gateway's front door on the real stack (CONTRACT "Whole-API documents and limits"
and what a fuzzer found): login and login-link limits with ``Retry-After``, body limits
(an anonymous 30 MB body is never read), ``limit`` above the maximum refused everywhere,
``/api/me`` in the shape of the staff list, usernames without regard to case, control
characters refused or answered 404 (never 500), the headers of API answers, no
``/dev/mail`` outside dev."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx

from crm_dev.stack import Stack
from crm_dev.testkit import Kit
from crm_shared.errors import PROBLEM_JSON
from crm_shared.paging import MAX_LIMIT


async def test_failed_logins_lock_a_username_for_15_minutes(
    api: httpx.AsyncClient, kit: type[Kit]
) -> None:
    staff = await kit.new_staff(api)
    username, password = staff["username"], "pw-" + staff["username"]
    for attempt in range(10):
        wrong = await api.post(
            "/api/auth/token",
            json={"username": username.upper() if attempt % 2 else username, "password": "x"},
        )
        assert wrong.status_code == 401, (attempt, wrong.text)
    for body in (
        {"username": username, "password": "x"},
        {"username": username, "password": password},  # the right one: refused too
        {"username": username.upper(), "password": password},
    ):
        locked = await api.post("/api/auth/token", json=body)
        assert locked.status_code == 429, locked.text
        assert locked.headers["content-type"] == PROBLEM_JSON
        assert 800 < int(locked.headers["retry-after"]) <= 900
    other = await kit.new_staff(api)  # another username signs in as before
    assert other["token"]


async def test_login_links_are_limited_per_address(stack: Stack) -> None:
    """At most 5 links per address an hour, whether or not it is a contact's: the sixth
    is a 429, for the address in any case."""
    email = f"niemand-{uuid.uuid4().hex[:8]}@firma.example"
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as anonymous:
        for _ in range(5):
            sent = await anonymous.post("/portal/api/login-link", json={"email": email})
            assert sent.status_code == 202, sent.text
        for written in (email, email.upper()):
            refused = await anonymous.post("/portal/api/login-link", json={"email": written})
            assert refused.status_code == 429, refused.text
            assert 3500 < int(refused.headers["retry-after"]) <= 3600
        other = f"jemand-{uuid.uuid4().hex[:8]}@firma.example"
        assert (await anonymous.post("/portal/api/login-link", json={"email": other})).is_success


async def raw_request(url: str, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send a request's head (and ``body``) over a socket; the status and the answer,
    read until the server closes or 15 s pass (a server that waited for a body never sent
    would never answer; 5 s was once too short for a full suite's loaded machine)."""
    where = urlsplit(url)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    try:
        writer.write(head.encode() + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(65536), 15)
    finally:
        writer.close()
    return int(answer.split(b" ", 2)[1]), answer


async def test_an_anonymous_body_of_30_mb_is_refused_unread(stack: Stack) -> None:
    host = urlsplit(stack.gateway_url).netloc
    for path in ("/api/contacts/import", "/api/auth/token", "/portal/api/login-link"):
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/csv\r\n"
            f"Content-Length: {30 << 20}\r\n\r\n"
        )
        status, answer = await raw_request(stack.gateway_url, head)  # not a byte sent
        assert status == 413, answer
        assert PROBLEM_JSON.encode() in answer
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as anonymous:
        big = await anonymous.post(
            "/api/auth/token", json={"username": "x" * (300 << 10), "password": "x"}
        )
        assert big.status_code == 413, big.text


async def test_signed_in_staff_send_larger_bodies(api: httpx.AsyncClient) -> None:
    """A selection of 20,000 ids (800 KB) passes the door; the service answers it."""
    ids = [str(uuid.uuid4()) for _ in range(20_000)]
    answer = await api.post("/api/contacts/selection", json={"selection": {"contact_ids": ids}})
    assert answer.status_code != 413, answer.text
    too_big = await api.post("/api/contacts/selection", content=b"x" * (9 << 20))
    assert too_big.status_code == 413


LISTS = [
    "/api/staff",
    "/api/competences",
    "/api/number-ranges",
    "/api/contacts",
    "/api/groups",
    "/api/interactions",
    "/api/procedures",
    "/api/campaigns",
    "/api/opportunities",
    "/api/reminders",
    "/api/notifications",
    "/api/contacts/{contact}/timeline",
    "/api/contacts/{contact}/history",
]


async def test_a_limit_above_the_maximum_is_refused_everywhere(api: httpx.AsyncClient) -> None:
    contact = await api.post("/api/contacts", json={"name": "Limit Probe", "kind": "person"})
    assert contact.status_code == 201, contact.text
    for template in LISTS:
        path = template.format(contact=contact.json()["id"])
        for limit in (MAX_LIMIT + 1, 0, "abc", "1e3"):
            refused = await api.get(path, params={"limit": limit})
            assert refused.status_code == 422, (path, limit, refused.text)
            assert {e["field"] for e in refused.json()["errors"]} == {"limit"}, path
        largest = await api.get(path, params={"limit": MAX_LIMIT})
        assert largest.status_code == 200, (path, largest.text)
    bad_cursor = await api.get("/api/staff", params={"cursor": "abc"})
    assert bad_cursor.status_code == 422


async def test_staff_competences_and_number_ranges_come_a_page_at_a_time(
    api: httpx.AsyncClient, kit: type[Kit]
) -> None:
    await kit.new_staff(api)
    await kit.new_staff(api)
    for path, body in (
        ("/api/competences", {"name": f"Kompetenz {uuid.uuid4().hex[:8]}"}),
        ("/api/competences", {"name": f"Kompetenz {uuid.uuid4().hex[:8]}"}),
        ("/api/number-ranges", {"name": f"Kreis {uuid.uuid4().hex[:8]}", "next_value": 1}),
        ("/api/number-ranges", {"name": f"Kreis {uuid.uuid4().hex[:8]}", "next_value": 1}),
    ):
        assert (await api.post(path, json=body)).status_code == 201
    for path in ("/api/staff", "/api/competences", "/api/number-ranges"):
        everything = (await api.get(path)).json()  # the default: all (up to 500)
        assert everything["next_cursor"] is None and len(everything["items"]) >= 2
        walked: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 1}
        while True:
            page = (await api.get(path, params=params)).json()
            assert len(page["items"]) <= 1
            walked += page["items"]
            if not page["next_cursor"]:
                break
            params["cursor"] = page["next_cursor"]
        assert walked == everything["items"], path


async def test_me_is_the_signed_in_staff_member_as_the_staff_list_shows_them(
    api: httpx.AsyncClient, stack: Stack, kit: type[Kit]
) -> None:
    staff = await kit.new_staff(api, language="en")
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {staff['token']}"}
    ) as member:
        me = (await member.get("/api/me")).json()
        listed = {s["id"]: s for s in (await api.get("/api/staff")).json()["items"]}
        assert me == listed[staff["id"]]
        assert set(me) == {
            "id", "username", "name", "initials", "email", "roles", "language", "active"
        }  # fmt: skip
        renamed = await api.patch(f"/api/staff/{staff['id']}", json={"name": "Anna Neu"})
        assert renamed.status_code == 200
        me = (await member.get("/api/me")).json()  # the same token: read from the table
        assert me["name"] == "Anna Neu" and me == renamed.json()
    admin = (await api.get("/api/me")).json()
    assert admin["username"] == "admin" and "admin" in admin["roles"]


async def test_usernames_are_unique_and_sign_in_without_regard_to_case(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    taken = await api.post(
        "/api/staff", json={"username": "ADMIN", "password": "geheim-123", "name": "Zweiter"}
    )
    assert taken.status_code == 409, taken.text
    assert taken.json()["field"] == "username"
    token = await api.post(
        "/api/auth/token", json={"username": "Admin", "password": "admin-test-pw"}
    )
    assert token.status_code == 200, token.text
    assert token.headers["cache-control"] == "no-store"


async def test_control_characters_are_refused_or_found_nowhere(api: httpx.AsyncClient) -> None:
    """Fuzzer: a NUL in a path was a 500 at the gateway (the service now answers 404, or
    422 where the id reaches PostgreSQL, which cannot hold a NUL), in a staff name it was
    stored."""
    for path in (
        "/api/contacts/%00",
        "/api/interactions/%00",
        "/api/procedures/%1B",
        "/api/campaigns/%7F",
        "/api/history/%00",
        "/api/contacts/%00/timeline",
    ):
        answer = await api.get(path)
        assert answer.status_code in (400, 404, 422), (path, answer.text)
        assert answer.headers["content-type"] == PROBLEM_JSON
    for path in ("/api/staff/%00", "/api/competences/%00"):
        answer = await api.patch(path, json={"name": "x"})
        assert answer.status_code == 404, (path, answer.text)
    body = {"username": f"nul{uuid.uuid4().hex[:8]}", "password": "geheim-123"}
    for name in ("Bernd\u0000Berater", "Bernd\nBerater", "\u001b[31mrot"):
        refused = await api.post("/api/staff", json={**body, "name": name})
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["type"] == "control_character"
    refused = await api.post("/api/competences", json={"name": "Vertrieb\u0000"})
    assert refused.status_code == 422
    login = await api.post("/api/auth/token", json={"username": "admin\u0000", "password": "x"})
    assert login.status_code == 422


async def test_api_answers_carry_security_headers_and_no_server_header(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    token = await api.post(
        "/api/auth/token", json={"username": "admin", "password": "admin-test-pw"}
    )
    contacts = await api.get("/api/contacts", params={"limit": 1})
    missing = await api.get("/api/contacts/does-not-exist")
    for answer in (token, contacts, missing):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-store"
        assert "server" not in answer.headers
    assert token.headers["pragma"] == "no-cache"
    for name in ("gateway", "contacts", "interactions", "notifier"):
        async with httpx.AsyncClient() as direct:
            health = await direct.get(f"http://127.0.0.1:{stack.port_of(name)}/healthz")
        assert "server" not in health.headers, name


async def test_dev_mail_is_not_there_outside_dev(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url) as anonymous:
        for path in ("/dev/mail", "/dev/mail?format=json"):
            answer = await anonymous.get(path)
            assert answer.status_code == 404, answer.text
            assert "token=" not in answer.text
