"""Request and response models of procedures (Kontaktvorgänge, seed 004) and of the
contact search of the procedure form, and the mappers from rows to answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from crm_interactions.models import ContactCopy, Procedure
from crm_interactions.schemas import ContactOnInteraction, RecorderPublic, UtcDatetime
from crm_shared.fields import Moment, NotNull, PlainText, Text

ProcedureType = Literal["call", "meeting", "email", "letter", "measure"]
Direction = Literal["incoming", "outgoing"]
ProcedureState = Literal["planned", "done", "not_done"]


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
    starts_at: Moment
    duration_minutes: int = Field(ge=0, le=100_000)
    reminder: bool
    subject: PlainText = Field(min_length=1, max_length=300)
    description: Text | None = Field(default=None, max_length=100_000)
    campaign_id: str | None = Field(default=None, min_length=1, max_length=36)


class ProcedureUpdate(BaseModel):
    """Changes to a planned procedure; start, responsible and reminder reschedule it.
    ``null`` clears contact person, responsible, description and campaign, and is a 422
    for the other fields (``NotNull``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    contact_person_id: str | None = Field(default=None, min_length=1, max_length=36)
    responsible_id: str | None = Field(default=None, min_length=1, max_length=36)
    type: NotNull[ProcedureType] = None
    direction: NotNull[Direction] = None
    starts_at: NotNull[Moment] = None
    reminder: NotNull[bool] = None
    subject: NotNull[PlainText] = Field(default=None, min_length=1, max_length=300)
    description: Text | None = Field(default=None, max_length=100_000)
    campaign_id: str | None = Field(default=None, min_length=1, max_length=36)


class ProcedureComplete(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    outcome: Literal["done", "not_done"]
    duration_minutes: int | None = Field(default=None, ge=0, le=100_000)
    starts_at: Moment | None = None
    note: Text | None = Field(default=None, max_length=100_000)


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

    @classmethod
    def of(cls, procedure: Procedure, contact: ContactCopy | None) -> ProcedurePublic:
        """A procedure with its contact as the copy has it now."""
        return cls.model_validate(
            {
                **procedure.model_dump(),
                "created_by": RecorderPublic(
                    staff_id=procedure.created_by_id,
                    name=procedure.created_by_name,
                    initials=procedure.created_by_initials,
                    email=procedure.created_by_email,
                ),
                "contact": ContactOnInteraction.of(contact),
            }
        )


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

    @classmethod
    def of(cls, contact: ContactCopy) -> ContactMatch:
        return cls(
            id=contact.contact_id,
            name=contact.name,
            kind=contact.kind,
            status=contact.status,
            company_id=contact.company_id,
            customer_number=contact.customer_number,
            credit_hold=contact.credit_hold,
        )


class ContactMatches(BaseModel):
    items: list[ContactMatch]
