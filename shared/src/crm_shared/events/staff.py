"""Events of the gateway about staff and competences, on ``crm.staff`` (key: their id;
the first admin, created at start, is announced like anybody else).

Services that need staff facts (the reminders service for a reminder email's address,
the contacts service to resolve a competence to its members) keep a copy from these."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from crm_shared.events.base import EventData, Topic, event


class StaffData(EventData):
    """A staff member's whole state (the gateway owns staff)."""

    subject_is: ClassVar[str] = "the staff member's id"

    staff_id: str
    username: str
    name: str
    initials: str | None = None
    email: str | None = None
    roles: list[str] = Field(default_factory=list)
    language: Literal["de", "en"] = "de"
    active: bool = True

    @property
    def event_subject(self) -> str:
        return self.staff_id


@event("StaffCreated", Topic.STAFF)
class StaffCreated(StaffData):
    """A staff member was created."""


@event("StaffUpdated", Topic.STAFF)
class StaffUpdated(StaffData):
    """A staff member changed; carries the whole new state."""


@event("CompetenceChanged", Topic.STAFF)
class CompetenceChanged(EventData):
    """A competence (named group of staff) was created or changed."""

    subject_is: ClassVar[str] = "the competence id"

    competence_id: str
    name: str
    member_ids: list[str] = Field(default_factory=list)

    @property
    def event_subject(self) -> str:
        return self.competence_id
