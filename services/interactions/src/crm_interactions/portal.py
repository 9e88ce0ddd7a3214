"""Rules of the customer portal (seed 001): login links, sessions, the customer's view.

Secrets never rest in the database: a login token and a session id are random values
handed to the customer; only their SHA-256 hashes are stored."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import uuid
from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from crm_interactions.models import (
    ContactCopy,
    Interaction,
    PortalSession,
    PortalToken,
)
from crm_interactions.repository import InteractionRepository
from crm_interactions.schemas import PortalInteraction
from crm_interactions.settings import Settings
from crm_shared.contact_status import is_restricted
from crm_shared.errors import NotFound, Problem
from crm_shared.events import EmailRequested, utcnow
from crm_shared.outbox import Outbox
from crm_shared.service import Runtime

log = logging.getLogger(__name__)

LOGIN_TEMPLATE = "portal_login_link"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class PortalUnauthorized(Problem):
    def __init__(self, detail: str) -> None:
        super().__init__(401, detail)


def to_portal(interaction: Interaction) -> PortalInteraction:
    return PortalInteraction(
        id=interaction.id,
        topic=interaction.topic,
        kind=interaction.kind,
        text=interaction.text,
        occurred_at=interaction.occurred_at,
        from_portal=interaction.origin == "portal",
    )


class PortalService:
    def __init__(self, session: AsyncSession, outbox: Outbox) -> None:
        self.session = session
        self.repo = InteractionRepository(session)
        self.outbox = outbox

    async def request_login_link(
        self, email: str, *, base_url: str, ttl: timedelta, pending: timedelta
    ) -> ContactCopy | None:
        """Mail a one-time link when a contact has this address; silent otherwise, so the
        answer never tells which addresses exist. An address no contact has here yet is
        kept for ``pending``: the contact may have been created a moment ago (its event on
        its way), and gets the link when its copy arrives (:meth:`serve_pending`)."""
        contact = await self.repo.contact_by_email(email)
        if contact is None:
            await self.repo.keep_link_request(email.lower(), utcnow() + pending)
            return None
        return await self.send_login_link(contact, base_url=base_url, ttl=ttl)

    async def serve_pending(self, *, base_url: str, ttl: timedelta) -> int:
        """Send the links asked for addresses whose contact copy has arrived since; runs
        every second or so in its own transaction (:func:`serve_pending_links`), after the
        copies' commits, so no request is missed whichever commits first. Returns how
        many were sent."""
        sent = 0
        for email, contact_id in await self.repo.answerable_link_requests(utcnow()):
            if await self.repo.take_link_request(email):
                contact = await self.repo.contact(contact_id)
                if contact is not None and await self.send_login_link(
                    contact, base_url=base_url, ttl=ttl
                ):
                    sent += 1
        return sent

    async def send_login_link(
        self, contact: ContactCopy, *, base_url: str, ttl: timedelta
    ) -> ContactCopy | None:
        """A one-time link for a contact that may use the portal (not deleted, inbox or
        archived, with an address)."""
        if contact.status == "deleted" or is_restricted(contact.status) or not contact.email:
            return None
        token = secrets.token_urlsafe(32)
        self.session.add(
            PortalToken(
                token_hash=digest(token),
                contact_id=contact.contact_id,
                expires_at=utcnow() + ttl,
            )
        )
        link = f"{base_url.rstrip('/')}/portal/login?{urlencode({'token': token})}"
        self.outbox.emit(
            self.session,
            EmailRequested(
                request_id=str(uuid.uuid4()),
                contact_id=contact.contact_id,
                recipient=contact.email,
                language=contact.language,
                template=LOGIN_TEMPLATE,
                context={
                    "name": contact.name,
                    "link": link,
                    "expires_minutes": int(ttl.total_seconds() // 60),
                },
            ),
        )
        await self.session.flush()
        return contact

    async def open_session(self, token: str, *, ttl: timedelta) -> tuple[str, PortalSession]:
        """Consume a login token (once) and start a session; returns the cookie value."""
        row = await self.repo.token(digest(token))
        now = utcnow()
        if row is None or row.used_at is not None or row.expires_at <= now:
            raise PortalUnauthorized("this login link is invalid, used or expired")
        contact = await self.repo.contact(row.contact_id)
        if contact is None or contact.status == "deleted":
            raise PortalUnauthorized("this login link is invalid, used or expired")
        row.used_at = now
        session_id = secrets.token_urlsafe(32)
        portal_session = PortalSession(
            session_hash=digest(session_id), contact_id=row.contact_id, expires_at=now + ttl
        )
        self.session.add(portal_session)
        await self.session.flush()
        return session_id, portal_session

    async def contact_of(self, session_id: str | None) -> ContactCopy:
        """The contact signed in with this session cookie, or a 401."""
        if not session_id:
            raise PortalUnauthorized("not signed in to the portal")
        row = await self.repo.portal_session(digest(session_id))
        if row is None or row.expires_at <= utcnow():
            raise PortalUnauthorized("the portal session has expired; request a new link")
        contact = await self.repo.contact(row.contact_id)
        if contact is None or contact.status == "deleted":
            raise PortalUnauthorized("not signed in to the portal")
        return contact

    async def end_session(self, session_id: str | None) -> None:
        if not session_id:
            return
        row = await self.repo.portal_session(digest(session_id))
        if row is not None:
            await self.session.delete(row)
            await self.session.flush()

    async def interaction(self, contact: ContactCopy, interaction_id: str) -> Interaction:
        """One of the contact's own non-internal interactions; anything else is a 404,
        so guessing ids reveals nothing."""
        interaction = await self.repo.get(interaction_id)
        if (
            interaction is None
            or interaction.contact_id != contact.contact_id
            or interaction.kind == "internal"
        ):
            raise NotFound("interaction", interaction_id)
        return interaction


async def serve_pending_links(runtime: Runtime[Settings], *, every: float) -> None:
    """The loop behind :meth:`PortalService.serve_pending` (a task of the service)."""
    settings = runtime.settings
    while True:
        try:
            async with runtime.database.unit_of_work() as session:
                await PortalService(session, runtime.outbox).serve_pending(
                    base_url=settings.portal_base_url,
                    ttl=timedelta(minutes=settings.portal_token_minutes),
                )
        except Exception:
            log.exception("serving waiting login links failed; trying again")
        await asyncio.sleep(every)
