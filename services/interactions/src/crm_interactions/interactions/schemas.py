"""Request and response models of interactions, and the mapper from a row to its answer."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from crm_interactions.models import ContactCopy, Interaction
from crm_interactions.schemas import ContactOnInteraction, RecorderPublic, UtcDatetime
from crm_shared.events import InteractionKind
from crm_shared.fields import Day, Moment, NotNull, PlainText, Text

InteractionSort = Literal["occurred_at", "recorded_by", "topic"]
"""Newest first, or by the recorder's name or the topic (then by id)."""


class InteractionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    contact_id: str = Field(min_length=1, max_length=36)
    topic: PlainText = Field(min_length=1, max_length=300)
    kind: InteractionKind
    text: Text = Field(min_length=1, max_length=100_000)
    occurred_at: Moment | None = None
    follow_up_on: Day | None = None
    recorded_by: str | None = Field(default=None, description="staff id; default: you")
    contact_name: PlainText | None = Field(default=None, max_length=300)
    contact_phone: PlainText | None = Field(default=None, max_length=64)
    sales_contact: PlainText | None = Field(default=None, max_length=200)
    salesperson: PlainText | None = Field(default=None, max_length=200)
    reference: PlainText | None = Field(default=None, max_length=200)
    reply_to: EmailStr | None = Field(
        default=None, description="reply-to address of the customer email; default: yours"
    )


class InteractionUpdate(BaseModel):
    """A partial change; ``null`` clears the follow-up and the optional texts, and is a
    422 for topic, text and occurred_at (``NotNull``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    topic: NotNull[PlainText] = Field(default=None, min_length=1, max_length=300)
    text: NotNull[Text] = Field(default=None, min_length=1, max_length=100_000)
    occurred_at: NotNull[Moment] = None
    follow_up_on: Day | None = None
    contact_name: PlainText | None = Field(default=None, max_length=300)
    contact_phone: PlainText | None = Field(default=None, max_length=64)
    sales_contact: PlainText | None = Field(default=None, max_length=200)
    salesperson: PlainText | None = Field(default=None, max_length=200)
    reference: PlainText | None = Field(default=None, max_length=200)


class InteractionPublic(BaseModel):
    id: str
    contact_id: str
    topic: str
    kind: InteractionKind
    text: str
    occurred_at: UtcDatetime
    follow_up_on: date | None
    recorded_by: RecorderPublic
    contact_name: str | None
    contact_phone: str | None
    sales_contact: str | None
    salesperson: str | None
    reference: str | None
    reply_to: str | None
    contact: ContactOnInteraction
    created_at: UtcDatetime

    @classmethod
    def of(cls, interaction: Interaction, contact: ContactCopy | None) -> InteractionPublic:
        """An interaction with its contact as the copy has it now."""
        return cls(
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
            contact=ContactOnInteraction.of(contact, interaction.contact_name),
        )


class InteractionPage(BaseModel):
    items: list[InteractionPublic]
    next_cursor: str | None
