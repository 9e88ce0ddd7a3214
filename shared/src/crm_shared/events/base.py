"""The envelope and registry every event module builds on."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
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
    STAFF = "crm.staff"

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
    def event_subject(self) -> str:
        """The CloudEvent subject and Kafka key: the contact the event is about.

        Events about no contact (a campaign, a group, a staff member) override this with
        their own id, so that thing's events stay in order.
        """
        return str(getattr(self, "contact_id"))  # noqa: B009


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

    specversion: Literal["1.0"]
    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
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
        specversion="1.0",
        id=event_id or str(uuid.uuid4()),
        source=source,
        type=event_type(data.event_name),
        subject=data.event_subject,
        time=time or utcnow(),
        data=data.model_dump(mode="json"),
    )


def derived_event_id(*parts: str) -> str:
    """A deterministic event id (UUIDv5) so a repeated effect emits the same event id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "crm:" + ":".join(parts)))
