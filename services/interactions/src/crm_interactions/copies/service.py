"""The local copies of what other services own: contacts, staff members, campaigns.

Kept from their owners' events only, never a call; read for a caller no older than what
the caller has seen (``wait_for_copy``: on the partition of the id a request names, and
one created a moment ago is waited for up to ``CRM_COPY_WAIT_SECONDS``). Adds no events;
never commits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from crm_interactions.copies.repository import CopyRepository
from crm_interactions.models import DELETED, CampaignCopy, ContactCopy, StaffCopy
from crm_interactions.settings import Settings
from crm_shared.contact_status import check_not_restricted
from crm_shared.copies import keep_newest, wait_for_copy
from crm_shared.db import table_of
from crm_shared.errors import NotFound, Unprocessable
from crm_shared.events import (
    CampaignCreated,
    CampaignRetired,
    ContactSnapshot,
    StaffData,
    StaffRef,
    Topic,
)
from crm_shared.service import Runtime

M = TypeVar("M", bound=SQLModel)


def check_contact_usable(contact: ContactCopy, what: str) -> None:
    """Deleted contacts are gone (404); inbox and archived ones have limited functions
    (409 naming the status, seed 002)."""
    if contact.status == DELETED:
        raise NotFound("contact", contact.contact_id)
    check_not_restricted(contact.contact_id, contact.status, what)


def staff_ref(staff: StaffCopy) -> StaffRef:
    """How events name a staff member the staff copy knows."""
    return StaffRef(
        staff_id=staff.staff_id, name=staff.name, initials=staff.initials, email=staff.email
    )


def _found(row: object) -> bool:
    return row is not None


class CopyService:
    def __init__(self, session: AsyncSession, runtime: Runtime[Settings]) -> None:
        self._session = session
        self._repo = CopyRepository(session)
        self._runtime = runtime

    # --- reads in the caller's transaction ------------------------------------------

    async def contact(self, contact_id: str) -> ContactCopy | None:
        return await self._repo.contact(contact_id)

    async def contacts(self, ids: set[str]) -> dict[str, ContactCopy]:
        return await self._repo.contacts(ids)

    async def staff(self, staff_id: str) -> StaffCopy | None:
        return await self._repo.staff(staff_id)

    async def campaign(self, campaign_id: str) -> CampaignCopy | None:
        return await self._repo.campaign(campaign_id)

    async def search_contacts(
        self, terms: list[str], limit: int, *, kind: str | None = None
    ) -> Sequence[ContactCopy]:
        return await self._repo.search_contacts(terms, limit, kind=kind)

    # --- reads for a caller, no older than what it has seen -----------------------------

    async def caught_up(self, topic: Topic, keys: list[str] | None = None) -> None:
        """Wait until the copy fed by ``topic`` has what the caller has seen on the
        partitions of ``keys`` (every partition without keys: a list or a search)."""
        await wait_for_copy(self._runtime, topic, keys=keys)

    async def _read(self, model: type[M], topic: Topic, ident: str) -> M | None:
        """The copy of something another service owns (a contact, a staff member, a
        campaign: ``topic`` feeds it, ``ident`` is its key there), as current as the caller
        has seen, waiting a little for one created a moment ago."""

        async def load(session: AsyncSession) -> M | None:
            return await session.get(model, ident)

        return await wait_for_copy(
            self._runtime, topic, keys=[ident], load=load, ready=_found, session=self._session
        )

    async def contact_for_caller(self, contact_id: str) -> ContactCopy:
        """The contact a request names; 422 naming ``contact_id`` when unknown."""
        contact = await self._read(ContactCopy, Topic.CONTACTS, contact_id)
        if contact is None:
            raise Unprocessable("contact_id", f"unknown contact {contact_id}")
        return contact

    async def recorder(self, staff_id: str | None, me: StaffRef, *, mails: bool) -> StaffRef:
        """The staff member named in ``recorded_by`` (default: the caller), as the staff
        copy knows them now: an email address removed since the caller's token was issued
        counts for an interaction that ``mails`` the customer (the caller's token says the
        rest)."""
        if staff_id is None or staff_id == me.staff_id:
            if not mails:
                return me
            mine = await wait_for_copy(
                self._runtime,
                Topic.STAFF,
                keys=[me.staff_id],
                load=lambda session: session.get(StaffCopy, me.staff_id),
                ready=lambda _: True,  # the token's claims stand in for a missing copy
                session=self._session,
            )
            return staff_ref(mine) if mine is not None else me
        staff = await self._read(StaffCopy, Topic.STAFF, staff_id)
        if staff is None or not staff.active:
            raise Unprocessable("recorded_by", f"unknown staff member {staff_id}")
        return staff_ref(staff)

    async def references_caught_up(
        self,
        campaign_id: str | None,
        responsible_id: str | None,
        contact_person_id: str | None = None,
    ) -> None:
        """The campaign, staff member and contact person a procedure names, as current as
        the caller has seen (a campaign retired a moment ago is retired here too)."""
        if campaign_id:
            await self._read(CampaignCopy, Topic.CAMPAIGNS, campaign_id)
        if responsible_id:
            await self._read(StaffCopy, Topic.STAFF, responsible_id)
        if contact_person_id:
            await self._read(ContactCopy, Topic.CONTACTS, contact_person_id)

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
        await keep_newest(self._session, table, rows, tombstone=("status", DELETED))

    async def erase_contact(self, contact_id: str) -> None:
        """GDPR: a deleted contact leaves no personal data here (interactions, procedures,
        portal tokens, sessions and login links waiting for its address go), only a
        tombstone id."""
        await self._repo.erase_contact_rows(contact_id)
        copy = await self._repo.contact(contact_id)
        if copy is not None and copy.email:  # a login link asked for and not sent yet
            await self._repo.forget_link_requests(copy.email)
        if copy is None:
            copy = ContactCopy(contact_id=contact_id, name="", status=DELETED)
            self._session.add(copy)
        copy.name, copy.email, copy.phone, copy.status = "", None, None, DELETED
        copy.customer_number = copy.company_id = None
        await self._session.flush()

    # --- staff and campaign events ----------------------------------------------------

    async def apply_staff(self, data: StaffData) -> None:
        """Keep name, initials and email of a staff member (the newest event wins: the
        gateway emits one staff member's events in order, keyed by the staff id)."""
        copy = await self._repo.staff(data.staff_id)
        if copy is None:
            copy = StaffCopy(staff_id=data.staff_id, name=data.name)
            self._session.add(copy)
        copy.name, copy.initials, copy.email = data.name, data.initials, data.email
        copy.active = data.active
        await self._session.flush()

    async def apply_campaign_created(self, data: CampaignCreated) -> None:
        copy = await self._repo.campaign(data.campaign_id)
        if copy is None:
            self._session.add(CampaignCopy(campaign_id=data.campaign_id, name=data.name))
        else:  # a retirement may have overtaken it; retired stays retired
            copy.name = data.name
        await self._session.flush()

    async def apply_campaign_retired(self, data: CampaignRetired) -> None:
        """A retired campaign is not selectable any more; existing links stay untouched."""
        copy = await self._repo.campaign(data.campaign_id)
        if copy is None:
            copy = CampaignCopy(campaign_id=data.campaign_id, name=data.name)
            self._session.add(copy)
        copy.retired = True
        await self._session.flush()
