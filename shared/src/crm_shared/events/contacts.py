"""Events of the contacts service, on ``crm.contacts`` (key: the contact id)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from crm_shared.events.base import EventData, Topic, event
from crm_shared.events.common import (
    Assignment,
    ContactKind,
    ContactStatus,
    Language,
    StaffRef,
)


class CrmProperties(BaseModel):
    """The CRM properties of seed 003 as carried on contact events.

    Values of admin lists travel as their names (e.g. ``company_size: "50-249"``), so a
    consumer can filter and group without the admin lists. Unknown keys are kept.
    """

    model_config = {"extra": "allow"}

    crm_status: str | None = None
    company_group: str | None = None
    company_size: str | None = None
    employees: int | None = None
    revenue_group: str | None = None
    products: list[str] = Field(default_factory=list)
    newsletter: bool | None = None
    data_source: str | None = None
    interested: bool | None = None
    comment1: str | None = None
    comment2: str | None = None
    comment3: str | None = None
    comment4: str | None = None
    characteristics: dict[str, str] = Field(default_factory=dict)


class ContactSnapshot(EventData):
    """The full state of a contact after a change (shared by Created/Updated)."""

    contact_id: str
    kind: ContactKind
    name: str
    email: str | None = None
    phone: str | None = None
    language: Language = "de"
    status: ContactStatus
    company_id: str | None = None
    customer_number: str | None = None
    credit_hold: bool = False
    assignment: Assignment = Field(default_factory=Assignment)
    crm: CrmProperties = Field(default_factory=CrmProperties)
    address: dict[str, Any] | None = None
    version: int = Field(
        description="The contact's version after this event: strictly increasing over "
        "all of a contact's events (each event of one change has its own); consumers "
        "keep the newest"
    )


ACTOR_DESCRIPTION = (
    "the staff member whose request caused the event (the audit trail's who); absent "
    "where no staff member acted (an import, a consumer) and on events from before it"
)


@event("ContactCreated", Topic.CONTACTS)
class ContactCreated(ContactSnapshot):
    """A contact was created."""

    actor: StaffRef | None = Field(default=None, description=ACTOR_DESCRIPTION)


@event("ContactUpdated", Topic.CONTACTS)
class ContactUpdated(ContactSnapshot):
    """A contact's data changed; carries the whole new state and the changed fields."""

    changed: list[str] = Field(default_factory=list)
    actor: StaffRef | None = Field(default=None, description=ACTOR_DESCRIPTION)


@event("ContactStatusChanged", Topic.CONTACTS)
class ContactStatusChanged(EventData):
    """A contact's status changed (inbox, prospect, customer, archived)."""

    contact_id: str
    old_status: ContactStatus
    status: ContactStatus
    changed_by: StaffRef | None = None
    version: int


@event("ContactAssigned", Topic.CONTACTS)
class ContactAssigned(EventData):
    """A contact was assigned; ``notify_staff_ids`` are the staff to push a notification to
    (the staff member, or every member of the competence; empty for "all")."""

    contact_id: str
    contact_name: str
    assignment: Assignment
    notify_staff_ids: list[str] = Field(default_factory=list)
    assigned_by: StaffRef | None = None
    version: int


@event("ContactDeleted", Topic.CONTACTS)
class ContactDeleted(EventData):
    """A contact was deleted permanently: every service erases its personal data. Its
    group memberships were removed just before (``GroupChanged``, same key)."""

    contact_id: str
    version: int | None = Field(default=None, description="the contact's last version")
    actor: StaffRef | None = Field(default=None, description=ACTOR_DESCRIPTION)


@event("GroupChanged", Topic.CONTACTS)
class GroupChanged(EventData):
    """A contact group was created, changed or deleted (subject and key: the group id),
    or one contact joined or left it (``members_added``/``members_removed`` with
    ``contact_id``; subject and key: the contact id, so it is ordered with the contact's
    other events: a contact's deletion comes after its removals). ``contact_ids`` is
    ``[contact_id]`` then, kept for older readers."""

    subject_is: ClassVar[str] = (
        "the contact id for members_added/members_removed, else the group id"
    )

    group_id: str
    name: str
    kind: Literal["static", "dynamic", "temporary"]
    action: Literal["created", "updated", "deleted", "members_added", "members_removed"]
    contact_id: str | None = None
    contact_ids: list[str] = Field(default_factory=list)

    @property
    def event_subject(self) -> str:
        return self.contact_id or self.group_id
