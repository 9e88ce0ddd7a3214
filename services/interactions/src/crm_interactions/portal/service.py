"""Rules of the customer portal (seed 001): login links, sessions, the customer's view.

Secrets never rest in the database: a login token and a session id are random values
handed to the customer; only their SHA-256 hashes are stored. A token is used once and
lasts ``CRM_INTERACTIONS_PORTAL_TOKEN_MINUTES`` (15); a customer sees their own
interactions, never internal ones. Adds outbox events; never commits."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from crm_interactions.copies.service import CopyService
from crm_interactions.interactions.service import InteractionService
from crm_interactions.models import DELETED, ContactCopy, Interaction, PortalSession, PortalToken
from crm_interactions.portal.repository import PortalRepository
from crm_interactions.portal.schemas import (
    PortalInteraction,
    PortalInteractionPage,
    PortalMe,
    PortalMessage,
)
from crm_interactions.settings import Settings
from crm_shared.contact_status import is_restricted
from crm_shared.errors import NotFound, Problem
from crm_shared.events import EmailRequested, utcnow
from crm_shared.outbox import Outbox

LOGIN_TEMPLATE = "portal_login_link"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class PortalUnauthorized(Problem):
    def __init__(self, detail: str) -> None:
        super().__init__(401, detail)


@dataclass(frozen=True)
class PortalLogin:
    """A session just opened: the cookie's value (only its hash is stored), how long it
    lasts, and who signed in."""

    session_id: str
    max_age: int
    me: PortalMe


class PortalService:
    def __init__(
        self,
        session: AsyncSession,
        outbox: Outbox,
        settings: Settings,
        *,
        copies: CopyService,
        interactions: InteractionService,
    ) -> None:
        self._session = session
        self._repo = PortalRepository(session)
        self._outbox = outbox
        self._copies = copies
        self._interactions = interactions
        self._base_url = settings.portal_base_url
        self._token_ttl = timedelta(minutes=settings.portal_token_minutes)
        self._pending = timedelta(minutes=settings.portal_pending_minutes)
        self._session_ttl = timedelta(hours=settings.portal_session_hours)

    # --- login links --------------------------------------------------------------------

    async def request_login_link(self, email: str) -> ContactCopy | None:
        """Mail a one-time link when a contact has this address; silent otherwise, so the
        answer never tells which addresses exist. An address no contact has here yet is
        kept for ``pending``: the contact may have been created a moment ago (its event on
        its way), and gets the link when its copy arrives (:meth:`serve_pending`)."""
        contact = await self._repo.contact_by_email(email)
        if contact is None:
            await self._repo.keep_link_request(email.lower(), utcnow() + self._pending)
            return None
        return await self._send_login_link(contact)

    async def serve_pending(self) -> int:
        """Send the links asked for addresses whose contact copy has arrived since; runs
        every second or so in its own transaction (``InteractionsDeps``), after the
        copies' commits, so no request is missed whichever commits first. Returns how
        many were sent."""
        sent = 0
        for email, contact_id in await self._repo.answerable_link_requests(utcnow()):
            if await self._repo.take_link_request(email):
                contact = await self._copies.contact(contact_id)
                if contact is not None and await self._send_login_link(contact):
                    sent += 1
        return sent

    async def _send_login_link(self, contact: ContactCopy) -> ContactCopy | None:
        """A one-time link for a contact that may use the portal (not deleted, inbox or
        archived, with an address)."""
        if contact.status == DELETED or is_restricted(contact.status) or not contact.email:
            return None
        token = secrets.token_urlsafe(32)
        self._session.add(
            PortalToken(
                token_hash=digest(token),
                contact_id=contact.contact_id,
                expires_at=utcnow() + self._token_ttl,
            )
        )
        link = f"{self._base_url.rstrip('/')}/portal/login?{urlencode({'token': token})}"
        self._outbox.emit(
            self._session,
            EmailRequested(
                request_id=str(uuid.uuid4()),
                contact_id=contact.contact_id,
                recipient=contact.email,
                language=contact.language,
                template=LOGIN_TEMPLATE,
                context={
                    "name": contact.name,
                    "link": link,
                    "expires_minutes": int(self._token_ttl.total_seconds() // 60),
                },
            ),
        )
        await self._session.flush()
        return contact

    # --- sessions -----------------------------------------------------------------------

    async def open_session(self, token: str) -> PortalLogin:
        """Consume a login token (once) and start a session: the cookie's value, and who
        signed in."""
        session_id, _ = await self._start_session(token)
        contact = await self.contact_of(session_id)
        return PortalLogin(session_id, int(self._session_ttl.total_seconds()), PortalMe.of(contact))

    async def _start_session(self, token: str) -> tuple[str, PortalSession]:
        row = await self._repo.token(digest(token))
        now = utcnow()
        if row is None or row.used_at is not None or row.expires_at <= now:
            raise PortalUnauthorized("this login link is invalid, used or expired")
        contact = await self._copies.contact(row.contact_id)
        if contact is None or contact.status == DELETED:
            raise PortalUnauthorized("this login link is invalid, used or expired")
        row.used_at = now
        session_id = secrets.token_urlsafe(32)
        portal_session = PortalSession(
            session_hash=digest(session_id),
            contact_id=row.contact_id,
            expires_at=now + self._session_ttl,
        )
        self._session.add(portal_session)
        await self._session.flush()
        return session_id, portal_session

    async def contact_of(self, session_id: str | None) -> ContactCopy:
        """The contact signed in with this session cookie, or a 401."""
        if not session_id:
            raise PortalUnauthorized("not signed in to the portal")
        row = await self._repo.portal_session(digest(session_id))
        if row is None or row.expires_at <= utcnow():
            raise PortalUnauthorized("the portal session has expired; request a new link")
        contact = await self._copies.contact(row.contact_id)
        if contact is None or contact.status == DELETED:
            raise PortalUnauthorized("not signed in to the portal")
        return contact

    async def end_session(self, session_id: str | None) -> None:
        if not session_id:
            return
        row = await self._repo.portal_session(digest(session_id))
        if row is not None:
            await self._session.delete(row)
            await self._session.flush()

    # --- the signed-in customer's view ------------------------------------------------

    async def me(self, session_id: str | None) -> PortalMe:
        return PortalMe.of(await self.contact_of(session_id))

    async def interactions(
        self, session_id: str | None, *, cursor: str | None, limit: int
    ) -> PortalInteractionPage:
        """The signed-in customer's own interactions, never internal ones, newest first."""
        contact = await self.contact_of(session_id)
        rows, next_cursor = await self._interactions.customer_view(
            contact.contact_id, cursor=cursor, limit=limit
        )
        return PortalInteractionPage(
            items=[PortalInteraction.of(row) for row in rows], next_cursor=next_cursor
        )

    async def interaction(self, session_id: str | None, interaction_id: str) -> PortalInteraction:
        """One of the signed-in customer's own non-internal interactions; anything else is
        a 404, so guessing ids reveals nothing."""
        contact = await self.contact_of(session_id)
        interaction = await self._interactions.find(interaction_id)
        if (
            interaction is None
            or interaction.contact_id != contact.contact_id
            or interaction.kind == "internal"
        ):
            raise NotFound("interaction", interaction_id)
        return PortalInteraction.of(interaction)

    async def write_message(self, session_id: str | None, data: PortalMessage) -> PortalInteraction:
        """A message from the customer: an ``incoming`` interaction for the staff."""
        contact = await self.contact_of(session_id)
        interaction: Interaction = await self._interactions.log_portal_message(
            contact, data.topic, data.text
        )
        return PortalInteraction.of(interaction)
