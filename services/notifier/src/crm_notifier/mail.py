"""Which event mails what, to whom and in which language: the notifier's email rules.

- ``InteractionLogged`` of kind incoming/outgoing: the contact, in their language, with
  Reply-To the recording staff member; never an internal one.
- ``EmailRequested``: a notifier template or a ready text another service asked for.
- ``ReminderDue`` stage "email": the staff member whose reminder it is.
- A contact deleted for good gets no mail, whatever event still asks for one.

Each mail goes out once (:class:`crm_notifier.mailer.Mailer`).
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from jinja2 import TemplateNotFound
from redis.asyncio import Redis

from crm_notifier.mailer import Email, Mailer
from crm_notifier.texts import Templates, local_time
from crm_shared.consumer import DeadLetter
from crm_shared.events import EmailRequested, InteractionLogged, ReminderDue

log = logging.getLogger(__name__)


def interaction_email(
    event: InteractionLogged, cause_event_id: str, templates: Templates
) -> Email | None:
    """The customer email for an interaction: incoming and outgoing ones, never internal."""
    if event.kind == "internal":
        return None
    if not event.contact.email:
        log.info("contact %s has no email address; nothing to send", event.contact_id)
        return None
    language = event.contact.language
    template = f"interaction_{event.kind}"
    subject, body = templates.render(
        template,
        language,
        {
            "name": event.contact.name,
            "topic": event.topic,
            "text": event.text,
            "occurred_at": local_time(event.occurred_at, language),
            "staff_name": event.recorded_by.name,
        },
    )
    return Email(
        cause_event_id=cause_event_id,
        contact_id=event.contact_id,
        template=template,
        recipient=event.contact.email,
        subject=subject,
        body=body,
        reply_to=event.reply_to or event.recorded_by.email,
    )


def requested_email(request: EmailRequested, cause_event_id: str, templates: Templates) -> Email:
    """An email another service asked for: a notifier template, or a ready text."""
    if request.template:
        subject, body = templates.render(request.template, request.language, request.context)
        template = request.template
    else:
        subject, body, template = request.subject or "", request.body or "", "text"
    return Email(
        cause_event_id=cause_event_id,
        contact_id=request.contact_id,
        template=template,
        recipient=request.recipient,
        subject=subject,
        body=body,
        reply_to=request.reply_to,
    )


def reminder_email(event: ReminderDue, cause_event_id: str, templates: Templates) -> Email | None:
    """The reminder email to the staff member (stage "email", the lead time before)."""
    if event.stage != "email":
        return None
    if not event.staff_email:
        log.info("staff member %s has no email address; no reminder email", event.staff_id)
        return None
    language = event.staff_language
    subject, body = templates.render(
        "reminder_email",
        language,
        {
            "subject": event.subject,
            "due_at": local_time(event.due_at, language),
            "kind": "procedure" if event.procedure_id else "follow_up",
        },
    )
    return Email(
        cause_event_id=cause_event_id,
        contact_id=event.contact_id,
        template="reminder_email",
        recipient=event.staff_email,
        subject=subject,
        body=body,
    )


class ErasedContacts:
    """Contacts deleted for good (Redis, written by the push group, which follows
    ``crm.contacts``): the mail group sends no mail for one, whatever event still asks
    for it (a deleted contact gets nothing)."""

    TTL = 30 * 24 * 3600  # as long as a redelivery is deduplicated at all

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def add(self, contact_id: str) -> None:
        await self._redis.set(self.key(contact_id), "1", ex=self.TTL)

    @staticmethod
    def key(contact_id: str) -> str:
        return f"crm:notifier:erased:{contact_id}"

    async def holds(self, contact_id: str | None) -> bool:
        if contact_id is None:
            return False
        if await self._redis.exists(self.key(contact_id)):
            log.info("contact %s was deleted; no mail", contact_id)
            return True
        return False

    async def among(self, contact_ids: Collection[str]) -> set[str]:
        """Those of ``contact_ids`` deleted for good (one round trip)."""
        ids = list(contact_ids)
        if not ids:
            return set()
        marks = await self._redis.mget([self.key(contact_id) for contact_id in ids])
        return {contact_id for contact_id, mark in zip(ids, marks, strict=True) if mark}

    def vetoes(self, email: Email) -> list[str]:
        """The keys that stop ``email`` (for :meth:`Mailer.send_once`, which asks Redis
        for them with its own guard in one round trip)."""
        return [self.key(email.contact_id)] if email.contact_id is not None else []


class MailService:
    """The email rules above, applied to the events of the mail group."""

    def __init__(self, mailer: Mailer, erased: ErasedContacts, templates: Templates) -> None:
        self._mailer = mailer
        self._erased = erased
        self._templates = templates

    async def interaction_logged(self, event: InteractionLogged, cause_event_id: str) -> None:
        email = interaction_email(event, cause_event_id, self._templates)
        if email is not None:
            await self._mailer.send_once(email, unless=self._erased.vetoes(email))

    async def email_requested(self, request: EmailRequested, cause_event_id: str) -> None:
        try:
            email = requested_email(request, cause_event_id, self._templates)
        except TemplateNotFound as exc:
            raise DeadLetter(f"unknown template {exc.name}") from exc
        await self._mailer.send_once(email, unless=self._erased.vetoes(email))

    async def reminder_due(self, event: ReminderDue, cause_event_id: str) -> None:
        email = reminder_email(event, cause_event_id, self._templates)
        if email is not None:
            await self._mailer.send_once(email)

    async def contact_deleted(self, contact_id: str) -> None:
        """No mail for this contact from now on (the push group sees the deletion)."""
        await self._erased.add(contact_id)
