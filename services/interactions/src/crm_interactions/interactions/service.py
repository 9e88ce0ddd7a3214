"""Business rules of interactions (seed 001). Adds outbox events; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_interactions.copies.service import CopyService, check_contact_usable
from crm_interactions.interactions.repository import InteractionRepository
from crm_interactions.interactions.schemas import (
    InteractionCreate,
    InteractionPage,
    InteractionPublic,
    InteractionSort,
    InteractionUpdate,
)
from crm_interactions.models import ContactCopy, Interaction
from crm_shared import cursor as cursors
from crm_shared.auth import StaffClaims
from crm_shared.errors import NotFound, Unprocessable
from crm_shared.events import (
    ContactCopy as EventContact,
)
from crm_shared.events import (
    InteractionDeleted,
    InteractionKind,
    InteractionLogged,
    InteractionUpdated,
    PortalMessageReceived,
    StaffRef,
    Topic,
    utcnow,
)
from crm_shared.outbox import Outbox

# Kinds that email the customer: the recorder's address must be there for reply-to.
CUSTOMER_FACING = {"incoming", "outgoing"}
# Messages written by the customer in the portal are recorded by this fixed "staff member".
PORTAL_RECORDER = StaffRef(
    staff_id="00000000-0000-0000-0000-000000000001", name="Kundenportal", initials="KP"
)
# the attribute of an interaction each sort order goes by (then by id)
_SORT_ATTRIBUTES = {
    "occurred_at": "occurred_at",
    "recorded_by": "recorded_by_name",
    "topic": "topic",
}


def _after(sort: InteractionSort, cursor: str | None) -> tuple[datetime | str, str] | None:
    """The last row's (sort value, id) a cursor names; 422 naming ``cursor`` if it is not
    one of this sort order."""
    if sort == "occurred_at":
        return cursors.keyset(cursor, datetime, str)
    return cursors.keyset(cursor, str, str)


def _event_fields(interaction: Interaction) -> dict[str, Any]:
    """What InteractionLogged and InteractionUpdated both carry of an interaction."""
    return {
        "interaction_id": interaction.id,
        "contact_id": interaction.contact_id,
        "topic": interaction.topic,
        "kind": interaction.kind,
        "text": interaction.text,
        "occurred_at": interaction.occurred_at,
        "follow_up_on": interaction.follow_up_on,
    }


class InteractionService:
    def __init__(self, session: AsyncSession, outbox: Outbox, copies: CopyService) -> None:
        self._session = session
        self._repo = InteractionRepository(session)
        self._outbox = outbox
        self._copies = copies

    async def log(self, data: InteractionCreate, staff: StaffClaims) -> InteractionPublic:
        """Record an interaction. ``recorded_by`` names the recorder (default: the caller,
        as the staff copy knows them now); the customer's email carries the recorder's
        address as reply-to, so a recorder without an email address cannot send (seed
        001), whoever records."""
        contact = await self._copies.contact_for_caller(data.contact_id)
        recorder = await self._copies.recorder(
            data.recorded_by, staff.ref(), mails=data.kind in CUSTOMER_FACING
        )
        check_contact_usable(contact, "interactions")
        if data.kind in CUSTOMER_FACING and not recorder.email:
            own = recorder.staff_id == staff.staff_id
            raise Unprocessable(
                "kind" if own else "recorded_by",
                f"an {data.kind} interaction emails the customer with the recorder's "
                "address as reply-to, and "
                + ("your staff record has" if own else f"{recorder.name}'s staff record has")
                + " no email address",
                code="recorder_without_email",
            )
        reply_to = str(data.reply_to) if data.reply_to else recorder.email
        interaction = Interaction(
            **data.model_dump(
                exclude={"recorded_by", "occurred_at", "contact_name", "contact_phone", "reply_to"}
            ),
            occurred_at=data.occurred_at or utcnow(),
            recorded_by_id=recorder.staff_id,
            recorded_by_name=recorder.name,
            recorded_by_initials=recorder.initials,
            recorded_by_email=recorder.email,
            contact_name=data.contact_name or contact.name,
            contact_phone=data.contact_phone or contact.phone,
            reply_to=reply_to,
        )
        await self._add(interaction, contact, recorder)
        return InteractionPublic.of(interaction, contact)

    async def log_portal_message(self, contact: ContactCopy, topic: str, text: str) -> Interaction:
        """A customer's portal message: an ``incoming`` interaction plus
        PortalMessageReceived (the notifier pushes it to the assigned staff)."""
        check_contact_usable(contact, "portal messages")
        interaction = Interaction(
            contact_id=contact.contact_id,
            topic=topic,
            kind="incoming",
            text=text,
            occurred_at=utcnow(),
            recorded_by_id=PORTAL_RECORDER.staff_id,
            recorded_by_name=PORTAL_RECORDER.name,
            recorded_by_initials=PORTAL_RECORDER.initials,
            contact_name=contact.name,
            contact_phone=contact.phone,
            origin="portal",
        )
        await self._add(interaction, contact, PORTAL_RECORDER)
        self._outbox.emit(
            self._session,
            PortalMessageReceived(
                interaction_id=interaction.id,
                contact_id=contact.contact_id,
                contact_name=contact.name,
                topic=topic,
                text=text,
                received_at=interaction.occurred_at,
            ),
        )
        return interaction

    async def _add(
        self, interaction: Interaction, contact: ContactCopy, recorder: StaffRef
    ) -> Interaction:
        self._session.add(interaction)
        await self._session.flush()
        self._outbox.emit(
            self._session,
            InteractionLogged(
                **_event_fields(interaction),
                recorded_by=recorder,
                reply_to=interaction.reply_to,
                contact=EventContact(
                    name=contact.name,
                    email=contact.email,
                    language=contact.language,
                    credit_hold=contact.credit_hold,
                ),
                origin="portal" if interaction.origin == "portal" else "staff",
            ),
        )
        return interaction

    async def page(
        self,
        *,
        contact_id: str | None,
        kind: InteractionKind | None,
        sort: InteractionSort,
        cursor: str | None,
        limit: int,
    ) -> InteractionPage:
        """A page of interactions (of a contact, of a kind) in ``sort`` order: newest
        first, or by recorder or topic; each with its contact as the copy has it now."""
        after = _after(sort, cursor)
        await self._copies.caught_up(Topic.CONTACTS, [contact_id] if contact_id else None)
        rows, next_cursor = await self._rows(
            after, limit, contact_id=contact_id, kind=kind, sort=sort
        )
        contacts = await self._copies.contacts({row.contact_id for row in rows})
        return InteractionPage(
            items=[InteractionPublic.of(row, contacts.get(row.contact_id)) for row in rows],
            next_cursor=next_cursor,
        )

    async def customer_view(
        self, contact_id: str, *, cursor: str | None, limit: int
    ) -> tuple[Sequence[Interaction], str | None]:
        """A page of what a customer may see of their interactions (never internal ones),
        newest first, and the cursor of the next page."""
        after = _after("occurred_at", cursor)
        return await self._rows(
            after, limit, contact_id=contact_id, kind=None, sort="occurred_at", customer_facing=True
        )

    async def _rows(
        self,
        after: tuple[datetime | str, str] | None,
        limit: int,
        *,
        contact_id: str | None,
        kind: str | None,
        sort: InteractionSort,
        customer_facing: bool = False,
    ) -> tuple[Sequence[Interaction], str | None]:
        rows = await self._repo.page(
            contact_id=contact_id,
            kind=kind,
            sort=sort,
            after=after,
            limit=limit + 1,
            customer_facing=customer_facing,
        )
        if len(rows) <= limit:
            return rows, None
        last = rows[limit - 1]
        return rows[:limit], cursors.encode(getattr(last, _SORT_ATTRIBUTES[sort]), last.id)

    async def find(self, interaction_id: str) -> Interaction | None:
        return await self._repo.get(interaction_id)

    async def _get(self, interaction_id: str) -> Interaction:
        interaction = await self._repo.get(interaction_id)
        if interaction is None:
            raise NotFound("interaction", interaction_id)
        return interaction

    async def get(self, interaction_id: str) -> InteractionPublic:
        interaction = await self._get(interaction_id)
        return InteractionPublic.of(interaction, await self._copies.contact(interaction.contact_id))

    async def update(self, interaction_id: str, data: InteractionUpdate) -> InteractionPublic:
        interaction = await self._get(interaction_id)
        changed = [
            name
            for name, value in data.model_dump(exclude_unset=True).items()
            if getattr(interaction, name) != value
        ]
        if changed:
            for name in changed:
                setattr(interaction, name, getattr(data, name))
            await self._session.flush()
            self._outbox.emit(
                self._session,
                InteractionUpdated(
                    **_event_fields(interaction),
                    recorded_by=StaffRef(
                        staff_id=interaction.recorded_by_id,
                        name=interaction.recorded_by_name,
                        initials=interaction.recorded_by_initials,
                        email=interaction.recorded_by_email,
                    ),
                    changed=changed,
                ),
            )
        return InteractionPublic.of(interaction, await self._copies.contact(interaction.contact_id))

    async def delete(self, interaction_id: str) -> None:
        """Deletion is allowed whatever the interaction's state (seed 001)."""
        interaction = await self._get(interaction_id)
        await self._session.delete(interaction)
        self._outbox.emit(
            self._session,
            InteractionDeleted(interaction_id=interaction.id, contact_id=interaction.contact_id),
        )
