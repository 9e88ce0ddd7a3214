"""Events around the notifier, on ``crm.notifications``."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from crm_shared.events.base import EventData, Topic, event


@event("EmailRequested", Topic.NOTIFICATIONS)
class EmailRequested(EventData):
    """Another service asks the notifier to send one email (a mailing, a portal login
    link). Either ``template`` (a notifier template rendered with ``context`` in
    ``language``) or a ready ``subject`` and ``body``. ``recipient`` and ``language``
    are the contact's as of the version the requester acted on. Key: the contact id, or
    the request id when there is no contact."""

    subject_is: ClassVar[str] = "the contact id (the request id when there is none)"

    request_id: str
    contact_id: str | None = None
    recipient: str
    language: Literal["de", "en"] = "de"
    template: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    subject: str | None = None
    body: str | None = None
    reply_to: str | None = None

    @model_validator(mode="after")
    def _template_or_text(self) -> EmailRequested:
        if not self.template and not (self.subject and self.body):
            raise ValueError("either template or subject and body")
        return self

    @property
    def event_subject(self) -> str:
        return self.contact_id or self.request_id


@event("EmailSent", Topic.NOTIFICATIONS)
class EmailSent(EventData):
    """The notifier handed an email to the mail server."""

    subject_is: ClassVar[str] = "the contact id (the cause event's id when there is none)"

    contact_id: str | None = None
    cause_event_id: str
    template: str
    recipient: str
    message_id: str

    @property
    def event_subject(self) -> str:
        return self.contact_id or self.cause_event_id


@event("EmailFailed", Topic.NOTIFICATIONS)
class EmailFailed(EventData):
    """The notifier gave up on an email; the cause went to the dead-letter topic."""

    subject_is: ClassVar[str] = "the contact id (the cause event's id when there is none)"

    contact_id: str | None = None
    cause_event_id: str
    template: str
    recipient: str
    error: str

    @property
    def event_subject(self) -> str:
        return self.contact_id or self.cause_event_id


@event("NotificationPushed", Topic.NOTIFICATIONS)
class NotificationPushed(EventData):
    """A push notification was stored for a staff member (and streamed live). Key and
    subject: the contact it names (the staff member's id for one about no contact)."""

    subject_is: ClassVar[str] = "the contact id (the staff member's id when there is none)"

    notification_id: str
    staff_id: str
    kind: Literal["contact_assigned", "portal_message", "reminder_due"]
    title: str
    body: str | None = None
    contact_id: str | None = None
    link: str | None = None

    @property
    def event_subject(self) -> str:
        return self.contact_id or self.staff_id
