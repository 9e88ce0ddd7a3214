"""Rules of campaigns (Kampagnen) and their members. Adds outbox events; never commits."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from crm_campaigns.campaigns.repository import CampaignRepository
from crm_campaigns.campaigns.schemas import (
    CampaignCreate,
    CampaignPage,
    CampaignPublic,
    MemberPage,
    MemberPublic,
    MembersAdded,
)
from crm_campaigns.contact_copies.service import ContactCopyService
from crm_campaigns.models import DELETED, Campaign, CampaignMember, ContactCopy
from crm_campaigns.settings import Settings
from crm_shared import cursor as cursors
from crm_shared.contact_status import check_not_restricted
from crm_shared.errors import Conflict, NotFound, Unprocessable
from crm_shared.events import (
    CampaignCreated,
    CampaignMemberAdded,
    CampaignMemberRemoved,
    CampaignRetired,
    utcnow,
)
from crm_shared.service import Runtime


class CampaignService:
    def __init__(self, session: AsyncSession, runtime: Runtime[Settings]) -> None:
        self._session = session
        self._outbox = runtime.outbox
        self._repo = CampaignRepository(session)
        self._copies = ContactCopyService(session, runtime)

    async def create(self, data: CampaignCreate) -> CampaignPublic:
        campaign = Campaign(**data.model_dump())
        self._repo.add(campaign)
        await self._repo.flush()
        self._outbox.emit(
            self._session,
            CampaignCreated(
                campaign_id=campaign.id,
                name=campaign.name,
                description=campaign.description,
                starts_on=campaign.starts_on,
                ends_on=campaign.ends_on,
                products=list(campaign.products),
            ),
        )
        return CampaignPublic.of(campaign)

    async def get(self, campaign_id: str) -> CampaignPublic:
        """Also a retired one."""
        return CampaignPublic.of(await self._campaign(campaign_id))

    async def many(self, ids: set[str]) -> dict[str, Campaign]:
        """The campaigns of ``ids`` that exist (retired ones too)."""
        return await self._repo.many(ids)

    async def page(
        self, *, include_retired: bool, contact_id: str | None, cursor: str | None, limit: int
    ) -> CampaignPage:
        """Sorted by name (keyset on name, id); only active ones unless ``include_retired``;
        with ``contact_id`` only those it is a member of."""
        after = cursors.keyset(cursor, str, str)
        rows = await self._repo.page(
            include_retired=include_retired, after=after, limit=limit + 1, contact_id=contact_id
        )
        last = rows[limit - 1] if len(rows) > limit else None
        return CampaignPage(
            items=[CampaignPublic.of(row) for row in rows[:limit]],
            next_cursor=cursors.encode(last.name, last.id) if last else None,
        )

    async def retire(self, campaign_id: str) -> None:
        """Retire for good. Idempotent: retiring a retired campaign changes nothing and
        emits nothing. Members, opportunities and procedures keep their links."""
        campaign = await self._campaign(campaign_id, for_update=True)
        if campaign.retired_at is not None:
            return
        campaign.retired_at = utcnow()
        await self._repo.flush()
        self._outbox.emit(
            self._session, CampaignRetired(campaign_id=campaign.id, name=campaign.name)
        )

    async def add_members(self, campaign_id: str, contact_ids: list[str]) -> MembersAdded:
        """All or nothing: every contact must be known, not deleted, not in the inbox and
        not archived; a retired campaign gets no new members (409, without waiting for
        the contacts' copies)."""
        campaign = await self._campaign(campaign_id)
        known: dict[str, ContactCopy] = {}
        if campaign.retired_at is None:
            known = await self._copies.wait_for(set(contact_ids))
        campaign = await self._campaign(campaign_id, for_update=True)
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
        existing = await self._repo.member_ids(campaign.id, set(ids))
        added = [contact_id for contact_id in ids if contact_id not in existing]
        for contact_id in added:
            self._repo.add(CampaignMember(campaign_id=campaign.id, contact_id=contact_id))
        await self._repo.flush()
        for contact_id in added:
            self._outbox.emit(
                self._session,
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
        campaign = await self._campaign(campaign_id, for_update=True)
        member = await self._repo.member(campaign.id, contact_id)
        if member is None:
            raise NotFound("campaign member", contact_id)
        await self._repo.delete(member)
        await self._repo.flush()
        self._member_removed(campaign, contact_id)

    async def members_page(self, campaign_id: str, cursor: str | None, limit: int) -> MemberPage:
        """The members with their names from the contact copy, keyset on the contact id."""
        await self._campaign(campaign_id)
        after = cursors.keyset(cursor, str)
        rows = await self._repo.members_page(
            campaign_id, after=after[0] if after else None, limit=limit + 1
        )
        return MemberPage(
            items=[MemberPublic.of(member, contact) for member, contact in rows[:limit]],
            next_cursor=cursors.encode(rows[limit - 1][0].contact_id)
            if len(rows) > limit
            else None,
        )

    async def erase_contact(self, contact_id: str) -> None:
        """GDPR: a deleted contact loses its memberships (each an event)."""
        for member, campaign in await self._repo.memberships_of(contact_id):
            await self._repo.delete(member)
            self._member_removed(campaign, contact_id)

    async def _campaign(self, campaign_id: str, *, for_update: bool = False) -> Campaign:
        campaign = await self._repo.get(campaign_id, for_update=for_update)
        if campaign is None:
            raise NotFound("campaign", campaign_id)
        return campaign

    def _member_removed(self, campaign: Campaign, contact_id: str) -> None:
        self._outbox.emit(
            self._session,
            CampaignMemberRemoved(
                campaign_id=campaign.id, campaign_name=campaign.name, contact_id=contact_id
            ),
        )
