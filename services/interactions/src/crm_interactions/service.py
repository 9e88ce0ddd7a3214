"""Business rules of the interactions service. Adds outbox events; never commits."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from crm_interactions.models import ContactCopy, Interaction
from crm_interactions.repository import InteractionRepository
from crm_interactions.schemas import (
    ContactOnInteraction,
    InteractionCreate,
    InteractionPublic,
    InteractionUpdate,
    RecorderPublic,
)
from crm_shared.auth import StaffClaims
from crm_shared.errors import Conflict, NotFound, Unprocessable
from crm_shared.events import (
    ContactCopy as EventContact,
)
from crm_shared.events import (
    ContactSnapshot,
    InteractionDeleted,
    InteractionLogged,
    InteractionUpdated,
    StaffRef,
    utcnow,
)
from crm_shared.outbox import Outbox

# Kinds that email the customer: the recorder's address must be there for reply-to.
CUSTOMER_FACING = {"incoming", "outgoing"}
DELETED = "deleted"


def to_public(interaction: Interaction, contact: ContactCopy | None) -> InteractionPublic:
    return InteractionPublic(
        **interaction.model_dump(
            exclude={"recorded_by_id", "recorded_by_name", "recorded_by_initials"}
        ),
        recorded_by=RecorderPublic(
            staff_id=interaction.recorded_by_id,
            name=interaction.recorded_by_name,
            initials=interaction.recorded_by_initials,
        ),
        contact=ContactOnInteraction(
            name=contact.name if contact else interaction.contact_name or "",
            credit_hold=contact.credit_hold if contact else False,
        ),
    )


class InteractionService:
    def __init__(self, session: AsyncSession, outbox: Outbox) -> None:
        self.session = session
        self.repo = InteractionRepository(session)
        self.outbox = outbox

    async def log(
        self, data: InteractionCreate, staff: StaffClaims, contact: ContactCopy
    ) -> Interaction:
        if contact.status == DELETED:
            raise NotFound("contact", contact.contact_id)
        if contact.status == "inbox":
            raise Conflict(
                "the contact is in the inbox (Eingang): accept it before logging interactions"
            )
        if data.recorded_by and data.recorded_by != staff.staff_id:
            raise Unprocessable("recorded_by", "interactions are recorded as yourself")
        if data.kind in CUSTOMER_FACING and not staff.email:
            raise Unprocessable(
                "kind",
                f"an {data.kind} interaction emails the customer with your address "
                "as reply-to, and your staff record has no email address",
            )
        interaction = Interaction(
            **data.model_dump(
                exclude={"recorded_by", "occurred_at", "contact_name", "contact_phone", "reply_to"}
            ),
            occurred_at=data.occurred_at or utcnow(),
            recorded_by_id=staff.staff_id,
            recorded_by_name=staff.name,
            recorded_by_initials=staff.initials,
            contact_name=data.contact_name or contact.name,
            contact_phone=data.contact_phone or contact.phone,
            reply_to=str(data.reply_to) if data.reply_to else staff.email,
        )
        self.session.add(interaction)
        await self.session.flush()
        self.outbox.emit(
            self.session,
            InteractionLogged(
                interaction_id=interaction.id,
                contact_id=interaction.contact_id,
                topic=interaction.topic,
                kind=data.kind,
                text=interaction.text,
                occurred_at=interaction.occurred_at,
                follow_up_on=interaction.follow_up_on,
                recorded_by=StaffRef(
                    staff_id=staff.staff_id,
                    name=staff.name,
                    initials=staff.initials,
                    email=staff.email,
                ),
                reply_to=interaction.reply_to,
                contact=EventContact(
                    name=contact.name,
                    email=contact.email,
                    language=contact.language,
                    credit_hold=contact.credit_hold,
                ),
            ),
        )
        return interaction

    async def get(self, interaction_id: str) -> Interaction:
        interaction = await self.repo.get(interaction_id)
        if interaction is None:
            raise NotFound("interaction", interaction_id)
        return interaction

    async def update(self, interaction_id: str, data: InteractionUpdate) -> Interaction:
        interaction = await self.get(interaction_id)
        changed = [
            name
            for name, value in data.model_dump(exclude_unset=True).items()
            if getattr(interaction, name) != value
        ]
        if not changed:
            return interaction
        for name in changed:
            setattr(interaction, name, getattr(data, name))
        await self.session.flush()
        self.outbox.emit(
            self.session,
            InteractionUpdated(
                interaction_id=interaction.id,
                contact_id=interaction.contact_id,
                topic=interaction.topic,
                kind=interaction.kind,
                text=interaction.text,
                occurred_at=interaction.occurred_at,
                follow_up_on=interaction.follow_up_on,
                changed=changed,
            ),
        )
        return interaction

    async def delete(self, interaction_id: str) -> None:
        """Deletion is allowed whatever the interaction's state (seed 001)."""
        interaction = await self.get(interaction_id)
        await self.session.delete(interaction)
        self.outbox.emit(
            self.session,
            InteractionDeleted(interaction_id=interaction.id, contact_id=interaction.contact_id),
        )

    # --- contact events ---------------------------------------------------------------

    async def apply_contact(self, snapshot: ContactSnapshot) -> None:
        """Keep the newest state of a contact (events may repeat or come late)."""
        copy = await self.repo.contact(snapshot.contact_id)
        if copy is not None and (copy.version >= snapshot.version or copy.status == DELETED):
            return
        if copy is None:
            copy = ContactCopy(
                contact_id=snapshot.contact_id, name=snapshot.name, status=snapshot.status
            )
            self.session.add(copy)
        copy.name = snapshot.name
        copy.email = snapshot.email
        copy.phone = snapshot.phone
        copy.language = snapshot.language
        copy.status = snapshot.status
        copy.credit_hold = snapshot.credit_hold
        copy.version = snapshot.version
        await self.session.flush()

    async def erase_contact(self, contact_id: str) -> None:
        """GDPR: a deleted contact leaves no personal data here, only a tombstone id."""
        await self.repo.delete_for_contact(contact_id)
        copy = await self.repo.contact(contact_id)
        if copy is None:
            copy = ContactCopy(contact_id=contact_id, name="", status=DELETED)
            self.session.add(copy)
        copy.name, copy.email, copy.phone, copy.status = "", None, None, DELETED
        await self.session.flush()
