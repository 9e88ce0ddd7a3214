"""The portal's view on SQLite without servers: a signed-in customer sees their own
interactions and never internal ones, writes messages that become incoming interactions;
contacts in the inbox or archived get no link."""

from __future__ import annotations

import pytest
from interactions_support import Interactions, staff_claims
from sqlmodel import select

from crm_dev.rules import emitted
from crm_interactions.interactions.schemas import InteractionCreate
from crm_interactions.models import ContactCopy, PortalToken
from crm_interactions.portal.schemas import PortalMessage
from crm_interactions.portal.service import PortalUnauthorized
from crm_shared.contact_status import ContactRestricted
from crm_shared.errors import NotFound

ERIKA = staff_claims()


async def signed_in(ix: Interactions, email: str) -> str:
    """The session cookie of the contact with ``email``, through its login link."""
    async with ix.portal() as service:
        assert await service.request_login_link(email) is not None
    (mail,) = [e for e in await emitted(ix.db, "EmailRequested") if e.data["recipient"] == email]  # type: ignore[index]
    token = str(mail.data["context"]["link"]).split("token=")[1]  # type: ignore[index]
    async with ix.portal() as service:
        login = await service.open_session(token)
    assert login.max_age == 8 * 3600  # CRM_INTERACTIONS_PORTAL_SESSION_HOURS
    return login.session_id


async def log(ix: Interactions, contact_id: str, kind: str, topic: str) -> str:
    async with ix.interactions() as service:
        logged = await service.log(
            InteractionCreate.model_validate(
                {"contact_id": contact_id, "topic": topic, "kind": kind, "text": "…"}
            ),
            ERIKA,
        )
    return logged.id


async def test_a_customer_sees_only_their_own_interactions_never_internal_ones(
    ix: Interactions,
) -> None:
    await ix.given(
        ContactCopy(contact_id="alice", name="Alice", email="alice@example.com", status="customer"),
        ContactCopy(contact_id="bob", name="Bob", email="bob@example.com", status="customer"),
    )
    mine = await log(ix, "alice", "outgoing", "Angebot")
    internal = await log(ix, "alice", "internal", "Notiz: zahlt spät")
    others = await log(ix, "bob", "incoming", "Bobs Frage")
    cookie = await signed_in(ix, "alice@example.com")

    async with ix.portal() as service:
        me = await service.me(cookie)
        page = await service.interactions(cookie, cursor=None, limit=50)
        shown = await service.interaction(cookie, mine)
    assert (me.contact_id, me.name) == ("alice", "Alice")
    assert [i.id for i in page.items] == [mine]
    assert (shown.topic, shown.kind, shown.from_portal) == ("Angebot", "outgoing", False)
    for hidden in (internal, others, "no-such-id"):
        with pytest.raises(NotFound):
            async with ix.portal() as service:
                await service.interaction(cookie, hidden)


async def test_a_message_becomes_an_incoming_interaction_from_the_portal(
    ix: Interactions,
) -> None:
    await ix.given(
        ContactCopy(contact_id="alice", name="Alice", email="alice@example.com", status="customer")
    )
    cookie = await signed_in(ix, "alice@example.com")
    async with ix.portal() as service:
        written = await service.write_message(cookie, PortalMessage(topic="Frage", text="Wann?"))
        page = await service.interactions(cookie, cursor=None, limit=50)
    assert (written.kind, written.from_portal) == ("incoming", True)
    assert [i.id for i in page.items] == [written.id]
    (logged,) = await emitted(ix.db, "InteractionLogged")
    assert logged.data["origin"] == "portal"  # type: ignore[index]
    assert logged.data["recorded_by"]["name"] == "Kundenportal"  # type: ignore[index]
    (received,) = await emitted(ix.db, "PortalMessageReceived")
    assert received.data["text"] == "Wann?"  # type: ignore[index]


async def test_a_limited_contact_gets_no_link_and_writes_no_message(ix: Interactions) -> None:
    await ix.given(
        ContactCopy(contact_id="alice", name="Alice", email="alice@example.com", status="customer"),
        ContactCopy(contact_id="neu", name="Neu", email="neu@example.com", status="inbox"),
    )
    async with ix.portal() as service:
        assert await service.request_login_link("neu@example.com") is None
    async with ix.db.sessionmaker() as session:
        assert (await session.scalars(select(PortalToken))).all() == []
    cookie = await signed_in(ix, "alice@example.com")
    async with ix.db.unit_of_work() as session:  # archived since signing in
        alice = await session.get(ContactCopy, "alice")
        assert alice is not None
        alice.status = "archived"
    with pytest.raises(ContactRestricted):
        async with ix.portal() as service:
            await service.write_message(cookie, PortalMessage(topic="Frage", text="Wann?"))


async def test_without_a_session_nothing_is_shown(ix: Interactions) -> None:
    for cookie in (None, "", "forged"):
        with pytest.raises(PortalUnauthorized):
            async with ix.portal() as service:
                await service.interactions(cookie, cursor=None, limit=50)
