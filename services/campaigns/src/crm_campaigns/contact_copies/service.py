"""The local copy of every contact (name, kind, company, status, CRM facts), kept from
contact events only: never a call to the contacts service.

Reads for a caller go through ``crm_shared.copies.wait_for_copy``: never older than what
the caller has seen, and a contact created a moment ago is waited for."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from crm_campaigns.contact_copies.repository import ContactCopyRepository
from crm_campaigns.models import DELETED, ContactCopy
from crm_campaigns.settings import Settings
from crm_shared.copies import wait_for_copy
from crm_shared.events import ContactSnapshot, Topic
from crm_shared.service import Runtime


def org_of(contact: ContactCopy) -> str:
    """Whose company facts count for a contact: its company's, else its own."""
    return contact.company_id or contact.contact_id


class ContactCopyService:
    def __init__(self, session: AsyncSession, runtime: Runtime[Settings]) -> None:
        self._runtime = runtime
        self._repo = ContactCopyRepository(session)

    # --- contact events ---------------------------------------------------------------

    async def apply(self, snapshots: Sequence[ContactSnapshot]) -> None:
        """Keep the newest state of each contact and its CRM facts (events may repeat or
        come late; a tombstone stays), in one upsert for a whole run of contact events."""
        await self._repo.keep_newest(
            [
                {
                    "contact_id": snapshot.contact_id,
                    "kind": snapshot.kind,
                    "name": snapshot.name,
                    "status": snapshot.status,
                    "company_id": snapshot.company_id,
                    "company_size": snapshot.crm.company_size,
                    "company_group": snapshot.crm.company_group,
                    "revenue_group": snapshot.crm.revenue_group,
                    "employees": snapshot.crm.employees,
                    "version": snapshot.version,
                }
                for snapshot in snapshots
            ]
        )

    async def erase(self, contact_id: str) -> None:
        """GDPR: a deleted contact keeps only a tombstone id here."""
        copy = await self._repo.get(contact_id)
        if copy is None:
            copy = ContactCopy(contact_id=contact_id, kind="person", name="", status=DELETED)
            self._repo.add(copy)
        copy.name, copy.status, copy.company_id = "", DELETED, None
        copy.company_size = copy.company_group = copy.revenue_group = None
        copy.employees = None
        await self._repo.flush()

    # --- reading ----------------------------------------------------------------------

    async def get(self, contact_id: str, *, fresh: bool = False) -> ContactCopy | None:
        """The copy as this transaction sees it (no waiting)."""
        return await self._repo.get(contact_id, fresh=fresh)

    async def many(self, ids: set[str]) -> dict[str, ContactCopy]:
        """The copies of ``ids`` as this transaction sees them (no waiting)."""
        return await self._repo.many(ids)

    async def wait_for(self, contact_ids: set[str]) -> dict[str, ContactCopy]:
        """The copies of ``contact_ids`` no older than the caller has seen, each waited for
        a while if not there yet (those known; the caller refuses the rest). Read in a
        session of their own, outside the caller's transaction."""

        async def load(session: AsyncSession) -> dict[str, ContactCopy]:
            return await ContactCopyRepository(session).many(contact_ids)

        found = await wait_for_copy(
            self._runtime,
            Topic.CONTACTS,
            keys=contact_ids,
            load=load,
            ready=lambda rows: len(rows) == len(contact_ids),
        )
        return found or {}

    async def wait_until_current(self) -> None:
        """Before a read over every contact's copy (the dashboard's company facts, names
        on lists): the copy has reached what the caller has seen."""
        await wait_for_copy(self._runtime, Topic.CONTACTS)
