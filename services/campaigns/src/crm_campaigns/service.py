"""Business rules of the campaigns service. Adds outbox events; never commits."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from crm_campaigns.models import Campaign, CampaignMember, ContactCopy
from crm_campaigns.repository import (
    CampaignRepository,
    ContactRepository,
    refresh_company_facts,
    with_opportunities,
)
from crm_campaigns.schemas import CampaignCreate, CampaignPublic, MembersAdded
from crm_shared.contact_status import check_not_restricted
from crm_shared.copies import keep_newest
from crm_shared.db import table_of
from crm_shared.errors import Conflict, NotFound, Unprocessable
from crm_shared.events import (
    CampaignCreated,
    CampaignMemberAdded,
    CampaignMemberRemoved,
    CampaignRetired,
    ContactSnapshot,
    utcnow,
)
from crm_shared.outbox import Outbox

DELETED = "deleted"


def campaign_public(campaign: Campaign) -> CampaignPublic:
    return CampaignPublic(
        **campaign.model_dump(exclude={"retired_at"}),
        retired=campaign.retired_at is not None,
        retired_at=campaign.retired_at,
    )


class CampaignService:
    def __init__(self, session: AsyncSession, outbox: Outbox) -> None:
        self.session = session
        self.repo = CampaignRepository(session)
        self.contacts = ContactRepository(session)
        self.outbox = outbox

    async def create(self, data: CampaignCreate) -> Campaign:
        campaign = Campaign(**data.model_dump())
        self.session.add(campaign)
        await self.session.flush()
        self.outbox.emit(
            self.session,
            CampaignCreated(
                campaign_id=campaign.id,
                name=campaign.name,
                description=campaign.description,
                starts_on=campaign.starts_on,
                ends_on=campaign.ends_on,
                products=list(campaign.products),
            ),
        )
        return campaign

    async def get(self, campaign_id: str, *, for_update: bool = False) -> Campaign:
        campaign = await self.repo.get(campaign_id, for_update=for_update)
        if campaign is None:
            raise NotFound("campaign", campaign_id)
        return campaign

    async def retire(self, campaign_id: str) -> Campaign:
        """Retire for good. Idempotent: retiring a retired campaign changes nothing and
        emits nothing. Members, opportunities and procedures keep their links."""
        campaign = await self.get(campaign_id, for_update=True)
        if campaign.retired_at is not None:
            return campaign
        campaign.retired_at = utcnow()
        await self.session.flush()
        self.outbox.emit(self.session, CampaignRetired(campaign_id=campaign.id, name=campaign.name))
        return campaign

    async def add_members(
        self, campaign_id: str, contact_ids: list[str], known: dict[str, ContactCopy]
    ) -> MembersAdded:
        """``known`` holds the local copies of the contacts (the API waited for them)."""
        campaign = await self.get(campaign_id, for_update=True)
        if campaign.retired_at is not None:
            raise Conflict(
                f"campaign {campaign.id} is retired: it gets no new members",
                campaign_id=campaign.id,
            )
        ids = list(dict.fromkeys(contact_ids))
        for contact_id in ids:
            contact = known.get(contact_id)
            if contact is None or contact.status == DELETED:
                raise Unprocessable("contact_ids", f"unknown contact {contact_id}")
            check_not_restricted(
                contact_id, contact.status, "campaign membership", field="contact_ids"
            )
        existing = await self.repo.member_ids(campaign.id, set(ids))
        added = [contact_id for contact_id in ids if contact_id not in existing]
        for contact_id in added:
            self.session.add(CampaignMember(campaign_id=campaign.id, contact_id=contact_id))
        await self.session.flush()
        for contact_id in added:
            self.outbox.emit(
                self.session,
                CampaignMemberAdded(
                    campaign_id=campaign.id, campaign_name=campaign.name, contact_id=contact_id
                ),
            )
        return MembersAdded(
            campaign_id=campaign.id,
            added=added,
            already_members=[c for c in ids if c in existing],
        )

    async def remove_member(self, campaign_id: str, contact_id: str) -> None:
        """Allowed on retired campaigns too: it only removes an existing link."""
        campaign = await self.get(campaign_id, for_update=True)
        member = await self.repo.member(campaign.id, contact_id)
        if member is None:
            raise NotFound("campaign member", contact_id)
        await self.session.delete(member)
        await self.session.flush()
        self.outbox.emit(
            self.session,
            CampaignMemberRemoved(
                campaign_id=campaign.id, campaign_name=campaign.name, contact_id=contact_id
            ),
        )

    # --- contact events ---------------------------------------------------------------

    async def apply_contacts(self, snapshots: Sequence[ContactSnapshot]) -> None:
        """Keep the newest state of each contact and its CRM facts (events may repeat or
        come late; a tombstone stays), in one upsert for a whole run of contact events;
        then the opportunities of those contacts, or of their companies, follow."""
        table = table_of(ContactCopy)
        rows = [
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
        await keep_newest(self.session, table, rows, tombstone=("status", DELETED))
        # a new contact has no opportunities yet: one query, usually empty (an import)
        ids = [snapshot.contact_id for snapshot in snapshots]
        for contact_id in await with_opportunities(self.session, ids):
            copy = await self.session.get(ContactCopy, contact_id, populate_existing=True)
            if copy is not None:
                await refresh_company_facts(self.session, copy)

    async def erase_contact(self, contact_id: str) -> None:
        """GDPR: a deleted contact loses its memberships (each an event) and keeps only a
        tombstone id here."""
        for member, campaign in await self.repo.memberships_of(contact_id):
            await self.session.delete(member)
            self.outbox.emit(
                self.session,
                CampaignMemberRemoved(
                    campaign_id=campaign.id, campaign_name=campaign.name, contact_id=contact_id
                ),
            )
        copy = await self.contacts.get(contact_id)
        if copy is None:
            copy = ContactCopy(contact_id=contact_id, kind="person", name="", status=DELETED)
            self.session.add(copy)
        copy.name, copy.status, copy.company_id = "", DELETED, None
        copy.company_size = copy.company_group = copy.revenue_group = None
        copy.employees = None
        await self.session.flush()
        await refresh_company_facts(self.session, copy)
