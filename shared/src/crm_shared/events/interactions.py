"""Events of the interactions service: interactions and portal messages on
``crm.interactions``, procedures on ``crm.procedures`` (key: the contact id)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from crm_shared.events.base import EventData, Topic, event
from crm_shared.events.common import InteractionKind, Language, StaffRef


class ContactCopy(BaseModel):
    """What an interaction event carries of its contact (from the local copy)."""

    name: str
    email: str | None = None
    language: Language = "de"
    credit_hold: bool = False


@event("InteractionLogged", Topic.INTERACTIONS)
class InteractionLogged(EventData):
    """An interaction was recorded for a contact."""

    interaction_id: str
    contact_id: str
    topic: str
    kind: InteractionKind
    text: str
    occurred_at: datetime
    follow_up_on: date | None = None
    recorded_by: StaffRef
    reply_to: str | None = None
    contact: ContactCopy
    origin: Literal["staff", "portal"] = "staff"


@event("InteractionUpdated", Topic.INTERACTIONS)
class InteractionUpdated(EventData):
    """An interaction was changed; carries the new values and the changed fields."""

    interaction_id: str
    contact_id: str
    topic: str
    kind: InteractionKind
    text: str
    occurred_at: datetime
    follow_up_on: date | None = None
    recorded_by: StaffRef | None = None
    changed: list[str] = Field(default_factory=list)


@event("InteractionDeleted", Topic.INTERACTIONS)
class InteractionDeleted(EventData):
    """An interaction was deleted (allowed whatever its state)."""

    interaction_id: str
    contact_id: str


@event("PortalMessageReceived", Topic.INTERACTIONS)
class PortalMessageReceived(EventData):
    """A customer wrote through the portal; it is stored as an ``incoming`` interaction.
    The notifier pushes it to the contact's assigned staff."""

    interaction_id: str
    contact_id: str
    contact_name: str
    topic: str
    text: str
    received_at: datetime


ProcedureType = Literal["call", "meeting", "email", "letter", "measure"]
Direction = Literal["incoming", "outgoing"]


class ProcedureData(EventData):
    """A procedure (Kontaktvorgang, seed 004) as it is after the change."""

    procedure_id: str
    contact_id: str
    contact_person_id: str | None = None
    responsible_id: str | None = None
    created_by: StaffRef
    type: ProcedureType
    direction: Direction
    state: Literal["planned", "done", "not_done"]
    starts_at: datetime
    duration_minutes: int
    reminder: bool
    subject: str
    description: str | None = None
    campaign_id: str | None = None
    contact_name: str | None = None
    responsible: StaffRef | None = Field(
        default=None, description="the responsible staff member, when one is set"
    )


@event("ProcedurePlanned", Topic.PROCEDURES)
class ProcedurePlanned(ProcedureData):
    """A procedure was created (planned, or recorded as done). With ``reminder`` and state
    ``planned`` the reminders service schedules a reminder for the responsible staff member
    (or the creator)."""


@event("ProcedureRescheduled", Topic.PROCEDURES)
class ProcedureRescheduled(ProcedureData):
    """A planned procedure's start, responsible or reminder flag changed."""

    old_starts_at: datetime
    changed: list[str] = Field(default_factory=list)


@event("ProcedureCompleted", Topic.PROCEDURES)
class ProcedureCompleted(ProcedureData):
    """A procedure was completed: ``outcome`` done (duration set) or not_done (a note)."""

    outcome: Literal["done", "not_done"]
    note: str | None = None
    completed_by: StaffRef
