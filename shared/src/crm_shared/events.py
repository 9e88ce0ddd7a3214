"""Event contracts: topics, the CloudEvents 1.0 envelope and the typed event payloads.

Every event of CONTRACT.md is a subclass of :class:`EventData` registered under its name.
On Kafka an event is one CloudEvent in structured mode (``content-type:
application/cloudevents+json``) keyed by the contact id, so one contact's events stay in
order. Schemas live here once; the AsyncAPI document is generated from this module.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"


class Topic(StrEnum):
    """The Kafka topics of the CRM; dead letters go to ``<topic>.dlq``."""

    CONTACTS = "crm.contacts"
    HISTORY = "crm.history"
    INTERACTIONS = "crm.interactions"
    PROCEDURES = "crm.procedures"
    CAMPAIGNS = "crm.campaigns"
    OPPORTUNITIES = "crm.opportunities"
    REMINDERS = "crm.reminders"
    NOTIFICATIONS = "crm.notifications"

    @property
    def dlq(self) -> str:
        """The dead-letter topic of this topic."""
        return dead_letter_topic(self.value)


def dead_letter_topic(topic: str) -> str:
    """Name of the dead-letter topic for ``topic``."""
    return f"{topic}.dlq"


def all_topics() -> list[str]:
    """Every topic with its dead-letter topic, for provisioning."""
    return [name for topic in Topic for name in (topic.value, topic.dlq)]


def utcnow() -> datetime:
    """Timezone-aware now in UTC: the only clock events use."""
    return datetime.now(UTC)


class EventData(BaseModel):
    """Base of every event payload (the CloudEvent ``data``)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    event_name: ClassVar[str]
    kafka_topic: ClassVar[Topic]

    @property
    def subject(self) -> str:
        """The CloudEvent subject and Kafka key: the contact the event is about."""
        return str(getattr(self, "contact_id"))  # noqa: B009 - every payload has one


_REGISTRY: dict[str, type[EventData]] = {}

E = TypeVar("E", bound=type[EventData])


def event(name: str, topic: Topic) -> Any:
    """Register an event payload class under its contract name and topic."""

    def register(cls: E) -> E:
        if name in _REGISTRY:
            raise ValueError(f"event {name} registered twice")
        cls.event_name = name
        cls.kafka_topic = topic
        _REGISTRY[name] = cls
        return cls

    return register


def event_type(name: str) -> str:
    """The CloudEvent ``type`` for an event name: ``crm.<Name>.v1``."""
    return f"crm.{name}.v1"


def registered_events() -> dict[str, type[EventData]]:
    """Every registered event class by name (a copy)."""
    return dict(_REGISTRY)


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event as it travels in structured mode."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str
    type: str
    subject: str | None = None
    time: datetime
    datacontenttype: str = "application/json"
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def name(self) -> str | None:
        """The contract event name for a ``crm.<Name>.v1`` type, else None."""
        parts = self.type.split(".")
        if len(parts) == 3 and parts[0] == "crm" and parts[2] == "v1":
            return parts[1]
        return None

    def payload(self) -> EventData:
        """The typed payload; raises :class:`UnknownEventError` or ValidationError."""
        cls = _REGISTRY.get(self.name or "")
        if cls is None:
            raise UnknownEventError(self.type)
        return cls.model_validate(self.data)

    def to_bytes(self) -> bytes:
        """Structured-mode JSON body."""
        return self.model_dump_json(exclude_none=True).encode()

    @property
    def key(self) -> bytes | None:
        """Kafka message key (the subject, i.e. the contact id)."""
        return self.subject.encode() if self.subject else None


class UnknownEventError(Exception):
    """A CloudEvent whose type is not in the contract registry."""


class MalformedEventError(Exception):
    """A message body that is not a CloudEvents 1.0 JSON object."""


def parse_cloudevent(body: bytes) -> CloudEvent:
    """Parse a structured-mode body; raises :class:`MalformedEventError`."""
    try:
        return CloudEvent.model_validate_json(body)
    except ValidationError as exc:
        raise MalformedEventError(str(exc)) from exc


def make_event(
    data: EventData,
    *,
    source: str,
    event_id: str | None = None,
    time: datetime | None = None,
) -> CloudEvent:
    """Wrap a payload into a CloudEvent from ``/crm/<service>`` with a fresh UUID."""
    return CloudEvent(
        id=event_id or str(uuid.uuid4()),
        source=source,
        type=event_type(data.event_name),
        subject=data.subject,
        time=time or utcnow(),
        data=data.model_dump(mode="json"),
    )


def derived_event_id(*parts: str) -> str:
    """A deterministic event id (UUIDv5) so a repeated effect emits the same event id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "crm:" + ":".join(parts)))


# --- payloads -----------------------------------------------------------------------

ContactKind = Literal["person", "company"]
ContactStatus = Literal["inbox", "prospect", "customer", "archived"]
Language = Literal["de", "en"]
InteractionKind = Literal["internal", "incoming", "outgoing"]


class Assignment(BaseModel):
    """Who looks after a contact: everybody, one staff member or a competence."""

    mode: Literal["all", "staff", "competence"] = "all"
    staff_id: str | None = None
    competence_id: str | None = None


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
    version: int = Field(description="Increases with every change; consumers keep the newest")


@event("ContactCreated", Topic.CONTACTS)
class ContactCreated(ContactSnapshot):
    """A contact was created."""


@event("ContactUpdated", Topic.CONTACTS)
class ContactUpdated(ContactSnapshot):
    """A contact's data changed; carries the whole new state and the changed fields."""

    changed: list[str] = Field(default_factory=list)


@event("ContactDeleted", Topic.CONTACTS)
class ContactDeleted(EventData):
    """A contact was deleted permanently: every service erases its personal data."""

    contact_id: str


class ContactCopy(BaseModel):
    """What an interaction event carries of its contact (from the local copy)."""

    name: str
    email: str | None = None
    language: Language = "de"
    credit_hold: bool = False


class StaffRef(BaseModel):
    """A staff member as named on an event."""

    staff_id: str
    name: str
    initials: str | None = None
    email: str | None = None


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
    changed: list[str] = Field(default_factory=list)


@event("InteractionDeleted", Topic.INTERACTIONS)
class InteractionDeleted(EventData):
    """An interaction was deleted."""

    interaction_id: str
    contact_id: str


@event("EmailSent", Topic.NOTIFICATIONS)
class EmailSent(EventData):
    """The notifier handed an email to the mail server."""

    contact_id: str
    cause_event_id: str
    template: str
    recipient: str
    message_id: str


@event("EmailFailed", Topic.NOTIFICATIONS)
class EmailFailed(EventData):
    """The notifier gave up on an email; the cause went to the dead-letter topic."""

    contact_id: str
    cause_event_id: str
    template: str
    recipient: str
    error: str
