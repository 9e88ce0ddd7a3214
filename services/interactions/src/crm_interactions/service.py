"""Business rules of the interactions service. Adds outbox events; never commits."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from crm_interactions.models import CampaignCopy, ContactCopy, Interaction, StaffCopy
from crm_interactions.repository import InteractionRepository
from crm_interactions.schemas import (
    ContactOnInteraction,
    InteractionCreate,
    InteractionPublic,
    InteractionUpdate,
    RecorderPublic,
)
from crm_shared.auth import StaffClaims
from crm_shared.contact_status import check_not_restricted
from crm_shared.copies import keep_newest
from crm_shared.db import table_of
from crm_shared.errors import NotFound, Unprocessable
from crm_shared.events import (
    CampaignCreated,
    CampaignRetired,
    ContactSnapshot,
    InteractionDeleted,
    InteractionLogged,
    InteractionUpdated,
    PortalMessageReceived,
    StaffData,
    StaffRef,
    utcnow,
)
from crm_shared.events import (
    ContactCopy as EventContact,
)
from crm_shared.outbox import Outbox

# Kinds that email the customer: the recorder's address must be there for reply-to.
CUSTOMER_FACING = {"incoming", "outgoing"}
DELETED = "deleted"
# Messages written by the customer in the portal are recorded by this fixed "staff member".
PORTAL_RECORDER = StaffRef(
    staff_id="00000000-0000-0000-0000-000000000001", name="Kundenportal", initials="KP"
)


def check_contact_usable(contact: ContactCopy, what: str) -> None:
    """Deleted contacts are gone (404); inbox and archived ones have limited functions
    (409, seed 002)."""
    if contact.status == DELETED:
        raise NotFound("contact", contact.contact_id)
    check_not_restricted(contact.contact_id, contact.status, what)


def contact_summary(contact: ContactCopy | None, fallback_name: str | None) -> ContactOnInteraction:
    return ContactOnInteraction(
        name=contact.name if contact else fallback_name or "",
        credit_hold=contact.credit_hold if contact else False,
    )


def to_public(interaction: Interaction, contact: ContactCopy | None) -> InteractionPublic:
    return InteractionPublic(
        **interaction.model_dump(
            exclude={
                "recorded_by_id",
                "recorded_by_name",
                "recorded_by_initials",
                "recorded_by_email",
                "origin",
            }
        ),
        recorded_by=RecorderPublic(
            staff_id=interaction.recorded_by_id,
            name=interaction.recorded_by_name,
            initials=interaction.recorded_by_initials,
            email=interaction.recorded_by_email,
        ),
        contact=contact_summary(contact, interaction.contact_name),
    )


class InteractionService:
    def __init__(self, session: AsyncSession, outbox: Outbox) -> None:
        self.session = session
        self.repo = InteractionRepository(session)
        self.outbox = outbox

    async def log(
        self,
        data: InteractionCreate,
        staff: StaffClaims,
        contact: ContactCopy,
        recorder: StaffRef | None = None,
    ) -> Interaction:
        """Record an interaction. ``recorder`` is the staff member named in
        ``recorded_by`` (default: the caller, as the staff copy knows them now); the
        customer's email carries the recorder's address as reply-to, so a recorder without
        an email address cannot send (seed 001), whoever records."""
        check_contact_usable(contact, "interactions")
        recorder = recorder or staff.ref()
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
        return await self._add(interaction, contact, recorder)

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
        self.outbox.emit(
            self.session,
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
        self.session.add(interaction)
        await self.session.flush()
        self.outbox.emit(
            self.session,
            InteractionLogged(
                interaction_id=interaction.id,
                contact_id=interaction.contact_id,
                topic=interaction.topic,
                kind=interaction.kind,
                text=interaction.text,
                occurred_at=interaction.occurred_at,
                follow_up_on=interaction.follow_up_on,
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
                recorded_by=StaffRef(
                    staff_id=interaction.recorded_by_id,
                    name=interaction.recorded_by_name,
                    initials=interaction.recorded_by_initials,
                    email=interaction.recorded_by_email,
                ),
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

    async def apply_contacts(self, snapshots: Sequence[ContactSnapshot]) -> None:
        """Keep the newest state of each contact (events may repeat or come late; a
        tombstone stays), in one upsert for a whole run of contact events."""
        table = table_of(ContactCopy)
        rows = [
            {
                "contact_id": snapshot.contact_id,
                "name": snapshot.name,
                "email": snapshot.email,
                "phone": snapshot.phone,
                "language": snapshot.language,
                "status": snapshot.status,
                "credit_hold": snapshot.credit_hold,
                "version": snapshot.version,
                "kind": snapshot.kind,
                "company_id": snapshot.company_id,
                "customer_number": snapshot.customer_number,
            }
            for snapshot in snapshots
        ]
        await keep_newest(self.session, table, rows, tombstone=("status", DELETED))

    async def erase_contact(self, contact_id: str) -> None:
        """GDPR: a deleted contact leaves no personal data here, only a tombstone id."""
        await self.repo.delete_for_contact(contact_id)
        copy = await self.repo.contact(contact_id)
        if copy is None:
            copy = ContactCopy(contact_id=contact_id, name="", status=DELETED)
            self.session.add(copy)
        copy.name, copy.email, copy.phone, copy.status = "", None, None, DELETED
        copy.customer_number = copy.company_id = None
        await self.session.flush()

    # --- staff and campaign events ----------------------------------------------------

    async def apply_staff(self, data: StaffData) -> None:
        """Keep name, initials and email of a staff member (the newest event wins: the
        gateway emits one staff member's events in order, keyed by the staff id)."""
        copy = await self.repo.staff(data.staff_id)
        if copy is None:
            copy = StaffCopy(staff_id=data.staff_id, name=data.name)
            self.session.add(copy)
        copy.name, copy.initials, copy.email = data.name, data.initials, data.email
        copy.active = data.active
        await self.session.flush()

    async def apply_campaign_created(self, data: CampaignCreated) -> None:
        copy = await self.repo.campaign(data.campaign_id)
        if copy is None:
            self.session.add(CampaignCopy(campaign_id=data.campaign_id, name=data.name))
        else:  # a retirement may have overtaken it; retired stays retired
            copy.name = data.name
        await self.session.flush()

    async def apply_campaign_retired(self, data: CampaignRetired) -> None:
        """A retired campaign is not selectable any more; existing links stay untouched."""
        copy = await self.repo.campaign(data.campaign_id)
        if copy is None:
            copy = CampaignCopy(campaign_id=data.campaign_id, name=data.name)
            self.session.add(copy)
        copy.retired = True
        await self.session.flush()
