"""Portal tokens and sessions on a real SQLite database built by the migrations: what the
gateway tests cannot wait for (expiry) and what must never be stored (the secrets)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from interactions_support import BASE, Interactions
from sqlmodel import select

from crm_interactions.models import ContactCopy, PortalSession, PortalToken, Procedure
from crm_interactions.portal.service import PortalUnauthorized, digest
from crm_shared.db import Database
from crm_shared.events import utcnow
from crm_shared.outbox import OutboxMessage


@pytest.fixture
async def db(ix: Interactions) -> Database:
    await ix.given(
        ContactCopy(contact_id="c1", name="Erika", email="erika@example.com", status="customer")
    )
    return ix.db


async def request_link(ix: Interactions, email: str, ttl: timedelta) -> str | None:
    minutes = int(ttl.total_seconds() // 60)
    async with ix.with_settings(portal_token_minutes=minutes).portal() as service:
        contact = await service.request_login_link(email)
        if contact is None:
            return None
    async with ix.db.sessionmaker() as session:
        row = (await session.scalars(select(OutboxMessage))).all()[-1]
        return row.body


def token_in(body: str) -> str:
    return body.split("token=")[1].split('"')[0]


async def test_only_the_hash_is_stored_and_the_mail_carries_the_token(
    db: Database, ix: Interactions
) -> None:
    body = await request_link(ix, "ERIKA@example.com", timedelta(minutes=15))
    assert body is not None
    assert '"template":"portal_login_link"' in body
    assert f"{BASE}/portal/login?token=" in body
    token = token_in(body)
    async with db.sessionmaker() as session:
        [row] = (await session.scalars(select(PortalToken))).all()
    assert row.token_hash == digest(token) and token not in row.token_hash


async def test_unknown_or_deleted_addresses_create_nothing(db: Database, ix: Interactions) -> None:
    assert await request_link(ix, "nobody@example.com", timedelta(minutes=15)) is None
    async with ix.copies() as copies:
        await copies.erase_contact("c1")
    assert await request_link(ix, "erika@example.com", timedelta(minutes=15)) is None


async def test_a_link_for_an_address_on_its_way_goes_out_when_the_copy_arrives(
    db: Database, ix: Interactions
) -> None:
    """The contact was created a moment ago; its copy arrives after the request."""
    assert await request_link(ix, "Neu@Example.com", timedelta(minutes=15)) is None
    async with db.unit_of_work() as session:
        before = len((await session.scalars(select(OutboxMessage))).all())
        service = ix.deps.portal_service(session)
        assert await service.serve_pending() == 0
        session.add(
            ContactCopy(contact_id="c9", name="Neu", email="Neu@example.com", status="prospect")
        )
        await session.flush()
        assert await service.serve_pending() == 1
        assert await service.serve_pending() == 0
        rows = (await session.scalars(select(OutboxMessage))).all()
    assert len(rows) == before + 1, "one link, once"
    assert "/portal/login?token=" in rows[-1].body
    assert '"recipient":"Neu@example.com"' in rows[-1].body


async def test_token_works_once_and_expires(db: Database, ix: Interactions) -> None:
    token = token_in(await request_link(ix, "erika@example.com", timedelta(minutes=15)) or "")
    async with ix.portal() as service:
        session_id = (await service.open_session(token)).session_id
    async with ix.portal() as service:
        assert (await service.contact_of(session_id)).contact_id == "c1"
        with pytest.raises(PortalUnauthorized):
            await service.open_session(token)

    expired = token_in(await request_link(ix, "erika@example.com", timedelta(minutes=-1)) or "")
    async with ix.portal() as service:
        with pytest.raises(PortalUnauthorized):
            await service.open_session(expired)


async def test_expired_session_is_refused(db: Database, ix: Interactions) -> None:
    async with db.unit_of_work() as session:
        session.add(
            PortalSession(
                session_hash=digest("s1"), contact_id="c1", expires_at=utcnow() - timedelta(1)
            )
        )
    async with ix.portal() as service:
        with pytest.raises(PortalUnauthorized):
            await service.contact_of("s1")


async def test_gdpr_erase_removes_tokens_sessions_and_procedures(
    db: Database, ix: Interactions
) -> None:
    await request_link(ix, "erika@example.com", timedelta(minutes=15))
    async with db.unit_of_work() as session:
        session.add(PortalSession(session_hash="h", contact_id="c1", expires_at=utcnow()))
        session.add(
            Procedure(
                contact_id="c1",
                created_by_id="s",
                created_by_name="S",
                type="call",
                direction="outgoing",
                state="planned",
                starts_at=utcnow(),
                subject="x",
            )
        )
    async with ix.copies() as copies:
        await copies.erase_contact("c1")
    async with db.sessionmaker() as session:
        for table in (PortalToken, PortalSession, Procedure):
            assert (await session.scalars(select(table))).all() == []
        copy = await session.get(ContactCopy, "c1")
        assert copy is not None and copy.status == "deleted" and copy.email is None
