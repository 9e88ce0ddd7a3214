"""Request and response models of the customer portal, and the mappers from rows to what
the customer sees (never internal staff fields)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from crm_interactions.models import ContactCopy, Interaction
from crm_interactions.schemas import UtcDatetime
from crm_shared.fields import PlainText, Text


class LoginLinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: EmailStr


class PortalSessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    token: str = Field(min_length=1, max_length=200)


class PortalMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    topic: PlainText = Field(min_length=1, max_length=300)
    text: Text = Field(min_length=1, max_length=20_000)


class PortalInteraction(BaseModel):
    """What the customer sees of an interaction: no internal staff fields."""

    id: str
    topic: str
    kind: Literal["incoming", "outgoing"]
    text: str
    occurred_at: UtcDatetime
    from_portal: bool

    @classmethod
    def of(cls, interaction: Interaction) -> PortalInteraction:
        return cls(
            id=interaction.id,
            topic=interaction.topic,
            kind=interaction.kind,
            text=interaction.text,
            occurred_at=interaction.occurred_at,
            from_portal=interaction.origin == "portal",
        )


class PortalInteractionPage(BaseModel):
    items: list[PortalInteraction]
    next_cursor: str | None


class PortalMe(BaseModel):
    contact_id: str
    name: str
    language: str = "de"

    @classmethod
    def of(cls, contact: ContactCopy) -> PortalMe:
        return cls(contact_id=contact.contact_id, name=contact.name, language=contact.language)
