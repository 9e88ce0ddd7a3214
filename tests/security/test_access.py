"""Nobody in where they don't belong: every operation of the whole API's OpenAPI document
refuses a missing, garbled, altered, unsigned or foreign-signed staff token (401), a
staff member without the CRM roles (403) and the portal's session cookie (401); the
portal's operations refuse a request without a valid portal session (401), and a
customer sees only their own contact's data, whatever ids they try (404).

Each request goes to the gateway with every path parameter set to a fresh UUID and no
body: what is checked is the door, which opens before anything is looked up."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import jwt
import pytest
from security_support import Operation, operations

from crm_dev.stack import Stack
from crm_dev.testing import Mailbox
from crm_gateway.openapi import PROBLEM_JSON

BAD_TOKENS = ("missing", "garbage", "payload-changed", "alg-none", "foreign-key")


def b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(part: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def bad_token(kind: str, valid: str) -> str | None:
    """A token that must open nothing, made from a ``valid`` one of a staff member
    without the CRM roles."""
    header, payload, signature = valid.split(".")
    claims = unb64(payload)
    admin = {**claims, "roles": ["admin", "crm_user"]}
    if kind == "missing":
        return None
    if kind == "garbage":
        return "not-a-token"
    if kind == "payload-changed":  # the roles raised, the signature kept
        return f"{header}.{b64(admin)}.{signature}"
    if kind == "alg-none":
        return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(admin)}."
    if kind == "foreign-key":  # well formed, signed, but not with this CRM's secret
        return jwt.encode(admin, "another-secret-of-at-least-thirty-two-bytes", algorithm="HS256")
    raise ValueError(kind)


async def send(client: httpx.AsyncClient, operation: Operation, **kwargs: Any) -> httpx.Response:
    return await client.request(
        operation.method.upper(), operation.url(str(uuid.uuid4())), **kwargs
    )


def is_problem(response: httpx.Response, status: int) -> bool:
    return (
        response.status_code == status
        and response.headers["content-type"].startswith(PROBLEM_JSON)
        and response.json()["status"] == status
    )


async def retried(call: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    """The answer of ``call``, sent again while it is a retryable 503 (a copy behind)."""
    for _ in range(40):
        response = await call()
        if response.status_code != 503:
            return response
        await asyncio.sleep(0.25)
    return response


@pytest.fixture(scope="module")
def no_role_token(stack: Stack, admin_token: str) -> str:
    """The token of a staff member with neither ``crm_user`` nor ``admin`` (POST
    /api/staff takes ``roles: []``)."""
    name = f"noroles{uuid.uuid4().hex[:8]}"
    created = httpx.post(
        f"{stack.gateway_url}/api/staff",
        headers={"Authorization": f"Bearer {admin_token}"},
        json={"username": name, "password": "pw-" + name, "name": "Ohne Rolle", "roles": []},
    )
    assert created.status_code == 201, created.text
    assert created.json()["roles"] == []
    token = httpx.post(
        f"{stack.gateway_url}/api/auth/token", json={"username": name, "password": "pw-" + name}
    )
    assert token.status_code == 200, token.text
    value: str = token.json()["access_token"]
    return value


@pytest.fixture
async def gateway(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        yield client


async def test_the_gateway_serves_the_operations_tested_here(gateway: httpx.AsyncClient) -> None:
    served = (await gateway.get("/api/openapi.json")).json()
    found = {(method, path) for path, item in served["paths"].items() for method in item}
    assert found == {(op.method, op.path) for op in operations()}


def test_the_operations_open_to_anyone_are_these() -> None:
    """A new public operation must be added here on purpose (and to ``PUBLIC`` in
    ``crm_gateway.openapi``); everything else is tested below to need a credential."""
    public = {str(op) for op in operations() if op.optional}
    assert public == {
        "POST /api/auth/token",
        "POST /portal/api/login-link",
        "GET /portal/api/session",
        "POST /portal/api/session",
        "POST /portal/api/logout",
    }


@pytest.mark.parametrize("kind", BAD_TOKENS)
async def test_a_bad_staff_token_opens_nothing(
    gateway: httpx.AsyncClient, bearer_operation: Operation, kind: str, no_role_token: str
) -> None:
    token = bad_token(kind, no_role_token)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await send(gateway, bearer_operation, headers=headers)
    assert is_problem(response, 401), (response.status_code, response.text)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_staff_member_without_crm_roles_gets_403(
    gateway: httpx.AsyncClient, bearer_operation: Operation, no_role_token: str
) -> None:
    headers = {"Authorization": f"Bearer {no_role_token}"}
    response = await send(gateway, bearer_operation, headers=headers)
    assert is_problem(response, 403), (response.status_code, response.text)


async def test_the_stream_takes_no_bad_token_as_query_parameter(
    gateway: httpx.AsyncClient, no_role_token: str
) -> None:
    """The notification stream also takes the token as ``?access_token=``: the same door."""
    for kind in BAD_TOKENS[1:]:
        token = bad_token(kind, no_role_token)
        response = await gateway.get("/api/notifications/stream", params={"access_token": token})
        assert is_problem(response, 401), (kind, response.text)
    refused = await gateway.get("/api/notifications/stream", params={"access_token": no_role_token})
    assert is_problem(refused, 403), refused.text


async def test_a_portal_operation_needs_a_portal_session(
    gateway: httpx.AsyncClient, portal_operation: Operation, admin_token: str
) -> None:
    for cookie in (None, "not-a-session", str(uuid.uuid4())):
        headers = {"Cookie": f"crm_portal={cookie}"} if cookie else {}
        gateway.cookies.clear()
        response = await send(gateway, portal_operation, headers=headers)
        assert is_problem(response, 401), (cookie, response.status_code, response.text)
    # nor does a staff token open the portal
    staff = await send(
        gateway, portal_operation, headers={"Authorization": f"Bearer {admin_token}"}
    )
    assert is_problem(staff, 401), staff.text


# --- a real customer signed in to the portal ----------------------------------------------


class Customer:
    def __init__(self, contact: dict[str, Any], session: str) -> None:
        self.contact = contact
        self.session = session


async def new_contact(api: httpx.AsyncClient) -> dict[str, Any]:
    email = f"portal-sec-{uuid.uuid4().hex[:10]}@example.com"
    body = {"kind": "person", "name": f"Kunde {uuid.uuid4().hex[:6]}", "email": email}
    response = await api.post("/api/contacts", json=body)
    assert response.status_code == 201, response.text
    contact: dict[str, Any] = response.json()
    return contact


async def log(api: httpx.AsyncClient, contact: dict[str, Any], kind: str) -> str:
    body = {"contact_id": contact["id"], "topic": f"{kind} topic", "kind": kind, "text": kind}
    response = await retried(lambda: api.post("/api/interactions", json=body))
    assert response.status_code == 201, response.text
    ident: str = response.json()["id"]
    return ident


async def sign_in(stack: Stack, mail: Mailbox, contact: dict[str, Any]) -> Customer:
    """The portal session of ``contact``, by the mailed link, as a customer gets it."""
    email = contact["email"]

    def token() -> str | None:
        for message in mail.messages(email):
            body = message.get_payload(decode=True).decode()
            found = re.search(r"/portal/login\?token=([^\s\"'<&]+)", body)
            if found:
                return found.group(1)
        return None

    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        deadline = time.monotonic() + 30
        while token() is None and time.monotonic() < deadline:
            # the interactions service may not know the new contact yet: no mail then
            sent = await client.post("/portal/api/login-link", json={"email": email})
            assert sent.status_code == 202, sent.text
            for _ in range(32):
                if token():
                    break
                await asyncio.sleep(0.25)
        link = token()
        assert link, f"no sign-in link was mailed to {email}"
        opened = await client.post("/portal/api/session", json={"token": link})
        assert opened.status_code == 200, opened.text
        session = opened.cookies.get("crm_portal")
        assert session, opened.headers
        return Customer(contact, session)


@pytest.fixture(scope="module")
async def customers(stack: Stack, admin_token: str, mail: Mailbox) -> dict[str, Any]:
    """Two customers signed in to the portal, each with an outgoing and an internal
    interaction."""
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, timeout=30, headers={"Authorization": f"Bearer {admin_token}"}
    ) as api:
        found: dict[str, Any] = {}
        for name in ("own", "other"):
            contact = await new_contact(api)
            found[f"{name}_outgoing"] = await log(api, contact, "outgoing")
            found[f"{name}_internal"] = await log(api, contact, "internal")
            found[name] = await sign_in(stack, mail, contact)
        return found


async def test_the_portal_session_opens_nothing_under_api(
    gateway: httpx.AsyncClient, customers: dict[str, Any]
) -> None:
    session = customers["own"].session
    failures = []
    for operation in operations():
        if "bearerAuth" not in operation.security:
            continue
        gateway.cookies.clear()
        response = await send(gateway, operation, headers={"Cookie": f"crm_portal={session}"})
        if not is_problem(response, 401):
            failures.append(f"{operation}: {response.status_code}")
    assert not failures


async def test_a_customer_sees_only_their_own_contact(
    gateway: httpx.AsyncClient, customers: dict[str, Any]
) -> None:
    own: Customer = customers["own"]
    cookie = {"Cookie": f"crm_portal={own.session}"}

    async def portal(method: str, path: str, **kwargs: Any) -> httpx.Response:
        gateway.cookies.clear()
        return await gateway.request(method, path, headers=cookie, **kwargs)

    me = await portal("GET", "/portal/api/me")
    assert me.status_code == 200, me.text
    assert me.json()["contact_id"] == own.contact["id"]
    listed = await portal("GET", "/portal/api/interactions", params={"limit": 500})
    assert listed.status_code == 200, listed.text
    assert [item["id"] for item in listed.json()["items"]] == [customers["own_outgoing"]]
    opened = await portal("GET", f"/portal/api/interactions/{customers['own_outgoing']}")
    assert opened.status_code == 200, opened.text
    # another customer's interactions, the own internal one, ids that never were
    for guess in (
        customers["other_outgoing"],
        customers["other_internal"],
        customers["own_internal"],
        customers["other"].contact["id"],
        own.contact["id"],
        str(uuid.uuid4()),
    ):
        response = await portal("GET", f"/portal/api/interactions/{guess}")
        assert is_problem(response, 404), (guess, response.status_code, response.text)
    # a message cannot be written in another contact's name
    written = await portal(
        "POST",
        "/portal/api/messages",
        json={"topic": "Frage", "text": "Hallo", "contact_id": customers["other"].contact["id"]},
    )
    assert written.status_code == 422, written.text
