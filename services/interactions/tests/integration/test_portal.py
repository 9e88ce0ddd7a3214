"""The customer portal's back end (seed 001) through the gateway: login link by mail,
one-time tokens, the session cookie, isolation between customers, portal messages."""

from __future__ import annotations

import json
import uuid

import httpx
from ix_support import (
    body_of,
    create_contact,
    is_login_mail,
    log_interaction,
    login_token,
)

from crm_dev.stack import Stack
from crm_dev.testing import Mailbox, read_topic
from crm_dev.testkit import eventually


async def test_login_link_arrives_by_mail_and_works_once(
    api: httpx.AsyncClient, stack: Stack, mail: Mailbox
) -> None:
    contact = await create_contact(api, name="Lina Link", language="en")
    async with httpx.AsyncClient(base_url=stack.gateway_url) as browser:

        async def requested() -> bool:  # the contact reaches our copy by event
            response = await browser.post(
                "/portal/api/login-link", json={"email": contact["email"].upper()}
            )
            assert response.status_code == 202
            return bool(mail.wait_for(contact["email"], timeout=2))

        await eventually(requested, what="login link mail")
        [message, *_] = mail.wait_for(contact["email"], timeout=1)
        assert message["Subject"] == "Your sign-in link to the customer portal"
        token = login_token(message)
        # the link starts with CRM_PUBLIC_URL: the gateway, whose page opens the session
        assert f"{stack.gateway_url}/portal/login?token=" in body_of(message)
        assert "15 minutes" in body_of(message)

        assert (await browser.get("/portal/api/interactions")).status_code == 401
        opened = await browser.get("/portal/api/session", params={"token": token})
        assert opened.status_code == 200, opened.text
        assert opened.json() == {"contact_id": contact["id"], "name": "Lina Link", "language": "en"}
        cookie = opened.headers["set-cookie"]
        assert cookie.startswith("crm_portal=")
        assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
        assert "Path=/portal" in cookie and "Max-Age=" in cookie
        assert (await browser.get("/portal/api/me")).json()["contact_id"] == contact["id"]

        async with httpx.AsyncClient(base_url=stack.gateway_url) as thief:
            reused = await thief.get("/portal/api/session", params={"token": token})
            assert reused.status_code == 401
            reused_post = await thief.post("/portal/api/session", json={"token": token})
            assert reused_post.status_code == 401
            assert (await thief.get("/portal/api/interactions")).status_code == 401

        assert (await browser.post("/portal/api/logout")).status_code == 204
        assert (await browser.get("/portal/api/interactions")).status_code == 401


async def test_unknown_address_gets_the_same_answer_and_no_mail(
    stack: Stack, mail: Mailbox
) -> None:
    stranger = f"niemand-{uuid.uuid4().hex[:10]}@example.com"
    async with httpx.AsyncClient(base_url=stack.gateway_url) as browser:
        response = await browser.post("/portal/api/login-link", json={"email": stranger})
        assert response.status_code == 202
        bad = await browser.post("/portal/api/login-link", json={"email": "kein-mail"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "email"
        forged = await browser.get("/portal/api/session", params={"token": "x" * 43})
        assert forged.status_code == 401
    assert mail.wait_for(stranger, timeout=3) == []


async def test_portal_shows_only_the_own_non_internal_interactions(
    any_api: httpx.AsyncClient, any_stack: Stack, any_mail: Mailbox
) -> None:
    alice = await create_contact(any_api, name="Alice Portal")
    bob = await create_contact(any_api, name="Bob Portal")
    alice_note = await log_interaction(any_api, alice["id"], "internal", text="geheim")
    alice_out = await log_interaction(any_api, alice["id"], "outgoing", topic="Ihr Angebot")
    bob_out = await log_interaction(any_api, bob["id"], "outgoing", topic="Bobs Angebot")
    any_mail.wait_for(alice["email"], timeout=10)  # the outgoing mail comes first

    async def alice_link_mailed() -> bool:
        async with httpx.AsyncClient(base_url=any_stack.gateway_url) as client:
            await client.post("/portal/api/login-link", json={"email": alice["email"]})
        mails = any_mail.wait_for(alice["email"], count=2, timeout=3)
        return any(is_login_mail(m) for m in mails)

    await eventually(alice_link_mailed, what="login link for Alice")
    [link_mail, *_] = [m for m in any_mail.messages(alice["email"]) if is_login_mail(m)]
    async with httpx.AsyncClient(base_url=any_stack.gateway_url) as alice_portal:
        opened = await alice_portal.get(
            "/portal/api/session", params={"token": login_token(link_mail)}
        )
        assert opened.status_code == 200
        listed = (await alice_portal.get("/portal/api/interactions")).json()
        assert [i["id"] for i in listed["items"]] == [alice_out["id"]]
        assert listed["items"][0]["topic"] == "Ihr Angebot"
        assert "recorded_by" not in listed["items"][0]
        own = await alice_portal.get(f"/portal/api/interactions/{alice_out['id']}")
        assert own.status_code == 200
        for hidden in (alice_note["id"], bob_out["id"], str(uuid.uuid4())):
            response = await alice_portal.get(f"/portal/api/interactions/{hidden}")
            assert response.status_code == 404
            assert response.headers["content-type"] == "application/problem+json"
        # Bob's message is never in Alice's list; hers never in his
        bob_list = await any_api.get("/api/interactions", params={"contact_id": bob["id"]})
        assert alice_out["id"] not in {i["id"] for i in bob_list.json()["items"]}


async def test_portal_message_becomes_an_incoming_interaction(
    api: httpx.AsyncClient, stack: Stack, mail: Mailbox
) -> None:
    contact = await create_contact(api, name="Moritz Meldung")

    async def mailed() -> bool:
        async with httpx.AsyncClient(base_url=stack.gateway_url) as client:
            await client.post("/portal/api/login-link", json={"email": contact["email"]})
        return bool(mail.wait_for(contact["email"], timeout=2))

    await eventually(mailed, what="login link")
    [link_mail, *_] = mail.wait_for(contact["email"], timeout=1)
    async with httpx.AsyncClient(base_url=stack.gateway_url) as portal:
        opened = await portal.post("/portal/api/session", json={"token": login_token(link_mail)})
        assert opened.status_code == 200
        empty = await portal.post("/portal/api/messages", json={"topic": "", "text": "x"})
        assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "topic"
        written = await portal.post(
            "/portal/api/messages", json={"topic": "Lieferung", "text": "Wo bleibt sie?"}
        )
        assert written.status_code == 201, written.text
        message = written.json()
        assert message["kind"] == "incoming" and message["from_portal"] is True
        listed = (await portal.get("/portal/api/interactions")).json()["items"]
        assert [i["id"] for i in listed] == [message["id"]]

    staff_view = (await api.get(f"/api/interactions/{message['id']}")).json()
    assert staff_view["kind"] == "incoming"
    assert staff_view["recorded_by"]["name"] == "Kundenportal"
    assert staff_view["contact"] == {"name": "Moritz Meldung", "credit_hold": False}
    # staff answer with an outgoing one; the customer sees it in the portal
    answer = await log_interaction(api, contact["id"], "outgoing", topic="Re: Lieferung")
    assert answer["reply_to"] == "admin@localhost"

    record = await read_topic(
        stack.config.kafka_bootstrap,
        "crm.interactions",
        lambda r: b"PortalMessageReceived" in r.value and message["id"].encode() in r.value,
    )
    assert record is not None, "PortalMessageReceived not published"
    data = json.loads(record.value)["data"]
    assert data["contact_name"] == "Moritz Meldung" and data["topic"] == "Lieferung"
    assert record.key == contact["id"].encode()
