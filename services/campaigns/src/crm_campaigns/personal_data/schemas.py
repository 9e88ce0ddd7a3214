"""The campaigns service's part of a contact's personal data."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel

from crm_campaigns.models import Campaign, CampaignMember
from crm_campaigns.opportunities.schemas import OpportunityPublic


class MembershipPublic(BaseModel):
    """A campaign the contact is a member of, and since when."""

    campaign_id: str
    name: str
    starts_on: date
    ends_on: date
    retired: bool
    added_at: datetime

    @classmethod
    def of(cls, member: CampaignMember, campaign: Campaign) -> MembershipPublic:
        return cls(
            campaign_id=campaign.id,
            name=campaign.name,
            starts_on=campaign.starts_on,
            ends_on=campaign.ends_on,
            retired=campaign.retired_at is not None,
            added_at=member.added_at,
        )


class CampaignsPersonalData(BaseModel):
    """What the campaigns service holds about a contact (its part of ``GET
    /api/contacts/{id}/personal-data``): its campaign memberships and opportunities."""

    campaigns: list[MembershipPublic]
    opportunities: list[OpportunityPublic]
