"""API models of campaigns and their members, and the mappers from their rows."""

from __future__ import annotations

from datetime import date, datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crm_campaigns.models import Campaign, CampaignMember, ContactCopy
from crm_shared.errors import Unprocessable
from crm_shared.fields import Day, PlainText, Text


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: PlainText = Field(min_length=1, max_length=200)
    description: Text | None = Field(default=None, max_length=20_000)
    starts_on: Day
    ends_on: Day
    products: list[PlainText] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _period(self) -> Self:
        if self.starts_on > self.ends_on:
            raise Unprocessable("ends_on", "must not be before starts_on")
        self.products = list(dict.fromkeys(p.strip() for p in self.products if p.strip()))
        return self


class CampaignPublic(BaseModel):
    id: str
    name: str
    description: str | None
    starts_on: date
    ends_on: date
    products: list[str]
    retired: bool
    retired_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, campaign: Campaign) -> CampaignPublic:
        return cls(
            **campaign.model_dump(exclude={"retired_at"}),
            retired=campaign.retired_at is not None,
            retired_at=campaign.retired_at,
        )


class CampaignPage(BaseModel):
    items: list[CampaignPublic]
    next_cursor: str | None


class MembersAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_ids: list[PlainText] = Field(min_length=1, max_length=1000)


class MembersAdded(BaseModel):
    campaign_id: str
    added: list[str] = Field(description="contacts that became members with this request")
    already_members: list[str]


class MemberPublic(BaseModel):
    contact_id: str
    name: str
    kind: str
    added_at: datetime

    @classmethod
    def of(cls, member: CampaignMember, contact: ContactCopy | None) -> MemberPublic:
        return cls(
            contact_id=member.contact_id,
            name=contact.name if contact else "",
            kind=contact.kind if contact else "person",
            added_at=member.added_at,
        )


class MemberPage(BaseModel):
    items: list[MemberPublic]
    next_cursor: str | None
