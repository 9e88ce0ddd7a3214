"""API request and response models of the interactions service."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, EmailStr, Field

from crm_shared.events import InteractionKind


def _in_utc(value: datetime) -> datetime:
    """Answers give every time in UTC (SQLite returns naive UTC values)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_in_utc)]

ProcedureType = Literal["call", "meeting", "email", "letter", "measure"]
Direction = Literal["incoming", "outgoing"]
ProcedureState = Literal["planned", "done", "not_done"]


class InteractionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    contact_id: str = Field(min_length=1, max_length=36)
    topic: str = Field(min_length=1, max_length=300)
    kind: InteractionKind
    text: str = Field(min_length=1, max_length=100_000)
    occurred_at: AwareDatetime | None = None
    follow_up_on: date | None = None
    recorded_by: str | None = Field(default=None, description="staff id; default: you")
    contact_name: str | None = Field(default=None, max_length=300)
    contact_phone: str | None = Field(default=None, max_length=64)
    sales_contact: str | None = Field(default=None, max_length=200)
    salesperson: str | None = Field(default=None, max_length=200)
    reference: str | None = Field(default=None, max_length=200)
    reply_to: EmailStr | None = Field(
        default=None, description="reply-to address of the customer email; default: yours"
    )


class InteractionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    topic: str | None = Field(default=None, min_length=1, max_length=300)
    text: str | None = Field(default=None, min_length=1, max_length=100_000)
    occurred_at: AwareDatetime | None = None
    follow_up_on: date | None = None
    contact_name: str | None = Field(default=None, max_length=300)
    contact_phone: str | None = Field(default=None, max_length=64)
    sales_contact: str | None = Field(default=None, max_length=200)
    salesperson: str | None = Field(default=None, max_length=200)
    reference: str | None = Field(default=None, max_length=200)


class ContactOnInteraction(BaseModel):
    name: str
    credit_hold: bool


class RecorderPublic(BaseModel):
    staff_id: str
    name: str
    initials: str | None
    email: str | None = None


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


class InteractionPage(BaseModel):
    items: list[InteractionPublic]
    next_cursor: str | None


# --- procedures (Kontaktvorgänge, seed 004) ------------------------------------------


class ProcedureCreate(BaseModel):
    """All fields are required except description, responsible (seed 004) and, by the
    contract, contact person (a person contact is its own contact person) and campaign."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    contact_id: str = Field(min_length=1, max_length=36)
    contact_person_id: str | None = Field(default=None, min_length=1, max_length=36)
    responsible_id: str | None = Field(default=None, min_length=1, max_length=36)
    type: ProcedureType
    direction: Direction
    state: Literal["planned", "done"]
    starts_at: AwareDatetime
    duration_minutes: int = Field(ge=0, le=100_000)
    reminder: bool
    subject: str = Field(min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=100_000)
    campaign_id: str | None = Field(default=None, min_length=1, max_length=36)


class ProcedureUpdate(BaseModel):
    """Changes to a planned procedure; start, responsible and reminder reschedule it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    contact_person_id: str | None = Field(default=None, min_length=1, max_length=36)
    responsible_id: str | None = Field(default=None, min_length=1, max_length=36)
    type: ProcedureType | None = None
    direction: Direction | None = None
    starts_at: AwareDatetime | None = None
    reminder: bool | None = None
    subject: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=100_000)
    campaign_id: str | None = Field(default=None, min_length=1, max_length=36)


class ProcedureComplete(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    outcome: Literal["done", "not_done"]
    duration_minutes: int | None = Field(default=None, ge=0, le=100_000)
    starts_at: AwareDatetime | None = None
    note: str | None = Field(default=None, max_length=100_000)


class ProcedurePublic(BaseModel):
    id: str
    contact_id: str
    contact_person_id: str | None
    responsible_id: str | None
    created_by: RecorderPublic
    type: ProcedureType
    direction: Direction
    state: ProcedureState
    starts_at: UtcDatetime
    duration_minutes: int
    reminder: bool
    subject: str
    description: str | None
    campaign_id: str | None
    note: str | None
    completed_at: UtcDatetime | None
    contact: ContactOnInteraction
    created_at: UtcDatetime
    updated_at: UtcDatetime


class ProcedurePage(BaseModel):
    items: list[ProcedurePublic]
    next_cursor: str | None


class ContactMatch(BaseModel):
    id: str
    name: str
    kind: str
    status: str
    company_id: str | None
    customer_number: str | None
    credit_hold: bool


class ContactMatches(BaseModel):
    items: list[ContactMatch]


# --- portal -------------------------------------------------------------------------


class LoginLinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: EmailStr


class PortalSessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    token: str = Field(min_length=1, max_length=200)


class PortalMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    topic: str = Field(min_length=1, max_length=300)
    text: str = Field(min_length=1, max_length=20_000)


class PortalInteraction(BaseModel):
    """What the customer sees of an interaction: no internal staff fields."""

    id: str
    topic: str
    kind: Literal["incoming", "outgoing"]
    text: str
    occurred_at: UtcDatetime
    from_portal: bool


class PortalInteractionPage(BaseModel):
    items: list[PortalInteraction]
    next_cursor: str | None


class PortalMe(BaseModel):
    contact_id: str
    name: str
    language: str = "de"
