"""Events of the campaigns service: campaigns on ``crm.campaigns``, opportunities on
``crm.opportunities``. Membership and opportunity events are keyed by the contact id,
campaign lifecycle events by the campaign id."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import BaseModel, Field

from crm_shared.events.base import EventData, Topic, event


class CampaignData(EventData):
    """A campaign's lifecycle event (about no contact)."""

    subject_is: ClassVar[str] = "the campaign id"

    campaign_id: str
    name: str

    @property
    def event_subject(self) -> str:
        return self.campaign_id


@event("CampaignCreated", Topic.CAMPAIGNS)
class CampaignCreated(CampaignData):
    """A campaign (time-limited sales project) was created."""

    description: str | None = None
    starts_on: date
    ends_on: date
    products: list[str] = Field(default_factory=list)


@event("CampaignRetired", Topic.CAMPAIGNS)
class CampaignRetired(CampaignData):
    """A campaign was retired for good: no new members or procedures; links stay."""


@event("CampaignMemberAdded", Topic.CAMPAIGNS)
class CampaignMemberAdded(EventData):
    """A contact became a member of a campaign."""

    campaign_id: str
    campaign_name: str
    contact_id: str


@event("CampaignMemberRemoved", Topic.CAMPAIGNS)
class CampaignMemberRemoved(EventData):
    """A contact's campaign membership was removed (timeline items stay)."""

    campaign_id: str
    campaign_name: str
    contact_id: str


CRM_SETTINGS_SUBJECT = "crm-settings"
"""Subject and key of CrmSettingsChanged: one stream, in order."""


class NamedRange(BaseModel):
    """An entry of an admin list with a range (company size: employees; revenue group:
    revenue potential as a decimal string)."""

    name: str
    min: str
    max: str | None = None


@event("CrmSettingsChanged", Topic.CAMPAIGNS)
class CrmSettingsChanged(EventData):
    """The admin lists of seed 003 (``/api/crm/settings``) as they are now; published when
    an admin saves them and when the campaigns service starts. Services that check CRM
    values (contacts) keep the newest ``version``."""

    subject_is: ClassVar[str] = f'"{CRM_SETTINGS_SUBJECT}"'

    opportunity_statuses: list[str]
    partner_statuses: list[str] = Field(default_factory=list)
    company_sizes: list[NamedRange] = Field(default_factory=list)
    revenue_groups: list[NamedRange] = Field(default_factory=list)
    company_groups: list[str] = Field(default_factory=list)
    products: list[str] = Field(default_factory=list)
    version: int = Field(description="grows with every save")

    @property
    def event_subject(self) -> str:
        return CRM_SETTINGS_SUBJECT


class OpportunitySnapshot(EventData):
    """An opportunity (seed 003 "CRM im Ticket") as it is after the change."""

    opportunity_id: str
    contact_id: str
    title: str
    crm_status: str
    closing_probability: int = Field(ge=0, le=100)
    revenue_potential: str = Field(description="Decimal as a string, e.g. '12500.00'")
    currency: str = "EUR"
    expected_users: int | None = None
    campaign_ids: list[str] = Field(default_factory=list)
    products: list[str] = Field(default_factory=list)
    assignee_id: str | None = None
    version: int


@event("OpportunityCreated", Topic.OPPORTUNITIES)
class OpportunityCreated(OpportunitySnapshot):
    """An opportunity was created."""


@event("OpportunityUpdated", Topic.OPPORTUNITIES)
class OpportunityUpdated(OpportunitySnapshot):
    """An opportunity changed; carries the whole new state and the changed fields."""

    changed: list[str] = Field(default_factory=list)


@event("OpportunityDeleted", Topic.OPPORTUNITIES)
class OpportunityDeleted(EventData):
    """An opportunity was deleted."""

    opportunity_id: str
    contact_id: str
