"""Everything the campaigns service holds about one contact, for a request under GDPR
Art. 15/20 (the gateway puts the parts of every service together). Reads only."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from crm_campaigns.campaigns.repository import CampaignRepository
from crm_campaigns.contact_copies.service import ContactCopyService
from crm_campaigns.crm_settings.service import CrmSettingsService
from crm_campaigns.opportunities.repository import OpportunityRepository
from crm_campaigns.opportunities.schemas import OpportunityPublic
from crm_campaigns.personal_data.schemas import CampaignsPersonalData, MembershipPublic
from crm_campaigns.settings import Settings
from crm_shared.copies import wait_for_copy
from crm_shared.events import Topic
from crm_shared.service import Runtime


class PersonalDataService:
    def __init__(self, session: AsyncSession, runtime: Runtime[Settings]) -> None:
        self._runtime = runtime
        self._campaigns = CampaignRepository(session)
        self._opportunities = OpportunityRepository(session)
        self._copies = ContactCopyService(session, runtime)
        self._settings = CrmSettingsService(session, runtime)

    async def of_contact(self, contact_id: str) -> CampaignsPersonalData:
        """The contact's campaign memberships (oldest first) and opportunities (newest
        first), with its name as the copy has it no older than the caller has seen (empty
        once the contact was deleted)."""
        await wait_for_copy(self._runtime, Topic.CONTACTS, keys=[contact_id])
        contact = await self._copies.get(contact_id)
        settings = await self._settings.current()
        memberships = sorted(
            await self._campaigns.memberships_of(contact_id), key=lambda mc: mc[0].added_at
        )
        opportunities = sorted(
            await self._opportunities.of_contact(contact_id),
            key=lambda o: (o.created_at, o.id),
            reverse=True,
        )
        return CampaignsPersonalData(
            campaigns=[MembershipPublic.of(member, campaign) for member, campaign in memberships],
            opportunities=[OpportunityPublic.of(o, settings, contact) for o in opportunities],
        )
