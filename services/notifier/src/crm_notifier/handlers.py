"""Kafka subscribers of the notifier: which event sends which email or push notification.

Two consumer groups, because the two kinds of effect need different guards:

- ``notifier`` (emails): deduplicated in Redis, each mail guarded by its send-once key,
  so a long SMTP outage never holds a database transaction open;
- ``notifier-push`` (notifications and the copies they need): deduplicated in the
  database in the same transaction as the stored notification.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from jinja2 import TemplateNotFound
from redis.asyncio import Redis

from crm_notifier.deps import NotifierDeps
from crm_notifier.mailer import Email, Templates
from crm_notifier.push import PushService
from crm_shared.consumer import Bulk, DeadLetter, Delivery, EventConsumer, Handler
from crm_shared.events import (
    CompetenceChanged,
    ContactAssigned,
    ContactDeleted,
    ContactSnapshot,
    EmailRequested,
    InteractionLogged,
    PortalMessageReceived,
    ReminderDue,
    StaffData,
    Topic,
)
from crm_shared.timezones import BERLIN

log = logging.getLogger(__name__)

DATE_FORMATS = {"de": "%d.%m.%Y %H:%M", "en": "%d %b %Y, %H:%M"}
MAIL_GROUP = "notifier"
PUSH_GROUP = "notifier-push"


def interaction_email(delivery: Delivery, templates: Templates) -> Email | None:
    """The customer email for an interaction: incoming and outgoing ones, never internal."""
    event = delivery.payload_as(InteractionLogged)
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
            "occurred_at": event.occurred_at.astimezone(BERLIN).strftime(DATE_FORMATS[language]),
            "staff_name": event.recorded_by.name,
        },
    )
    return Email(
        cause_event_id=delivery.event.id,
        contact_id=event.contact_id,
        template=template,
        recipient=event.contact.email,
        subject=subject,
        body=body,
        reply_to=event.reply_to or event.recorded_by.email,
    )


def requested_email(delivery: Delivery, templates: Templates) -> Email:
    """An email another service asked for: a notifier template, or a ready text."""
    request = delivery.payload_as(EmailRequested)
    if request.template:
        subject, body = templates.render(request.template, request.language, request.context)
        template = request.template
    else:
        subject, body, template = request.subject or "", request.body or "", "text"
    return Email(
        cause_event_id=delivery.event.id,
        contact_id=request.contact_id,
        template=template,
        recipient=request.recipient,
        subject=subject,
        body=body,
        reply_to=request.reply_to,
    )


def reminder_email(delivery: Delivery, templates: Templates) -> Email | None:
    """The reminder email to the staff member (stage "email", the lead time before)."""
    event = delivery.payload_as(ReminderDue)
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
            "due_at": event.due_at.astimezone(BERLIN).strftime(DATE_FORMATS[language]),
            "kind": "procedure" if event.procedure_id else "follow_up",
        },
    )
    return Email(
        cause_event_id=delivery.event.id,
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
        await self._redis.set(f"crm:notifier:erased:{contact_id}", "1", ex=self.TTL)

    async def holds(self, contact_id: str | None) -> bool:
        if contact_id is None:
            return False
        if await self._redis.exists(f"crm:notifier:erased:{contact_id}"):
            log.info("contact %s was deleted; no mail", contact_id)
            return True
        return False


def consumers(deps: NotifierDeps) -> Sequence[EventConsumer]:
    runtime = deps.runtime
    templates = Templates()
    mailer = deps.mailer
    erased = ErasedContacts(runtime.redis_client)

    def consumer(topic: str, group: str, handlers: Mapping[str, Handler]) -> EventConsumer:
        if group == MAIL_GROUP:
            # guarded in Redis with the mails; mails to different contacts go out at once,
            # over the pool's connections
            return runtime.consumer(
                topic,
                handlers,
                group_id=group,
                dedupe_in="redis",
                concurrency=deps.settings.smtp_pool_size,
            )
        return runtime.consumer(topic, handlers, group_id=group, dedupe_in="database")

    # --- emails -------------------------------------------------------------------------

    async def on_interaction_logged(delivery: Delivery) -> None:
        email = interaction_email(delivery, templates)
        if email is not None and not await erased.holds(email.contact_id):
            await mailer.send_once(email)

    async def on_email_requested(delivery: Delivery) -> None:
        try:
            email = requested_email(delivery, templates)
        except TemplateNotFound as exc:
            raise DeadLetter(f"unknown template {exc.name}") from exc
        if not await erased.holds(email.contact_id):
            await mailer.send_once(email)

    async def on_reminder_email(delivery: Delivery) -> None:
        email = reminder_email(delivery, templates)
        if email is not None:
            await mailer.send_once(email)

    # --- push notifications ---------------------------------------------------------------

    def push(delivery: Delivery) -> PushService:
        return PushService(delivery.tx, runtime.outbox, runtime.redis_client)

    async def on_contacts(deliveries: Sequence[Delivery]) -> None:
        snapshots = [delivery.payload_as(ContactSnapshot) for delivery in deliveries]
        await push(deliveries[0]).apply_snapshots(snapshots)

    on_contact = Bulk(on_contacts)

    async def on_contact_assigned(delivery: Delivery) -> None:
        event = delivery.payload_as(ContactAssigned)
        await push(delivery).contact_assigned(event, delivery.event.id)

    async def on_contact_deleted(delivery: Delivery) -> None:
        contact_id = delivery.payload_as(ContactDeleted).contact_id
        await erased.add(contact_id)  # for the mail group: no mail for it from now on
        await push(delivery).erase_contact(contact_id)

    async def on_portal_message(delivery: Delivery) -> None:
        event = delivery.payload_as(PortalMessageReceived)
        await push(delivery).portal_message(event, delivery.event.id)

    async def on_reminder_due(delivery: Delivery) -> None:
        event = delivery.payload_as(ReminderDue)
        if event.stage == "due":
            await push(delivery).reminder_due(event, delivery.event.id)

    async def on_competence(delivery: Delivery) -> None:
        await push(delivery).apply_competence(delivery.payload_as(CompetenceChanged))

    async def on_staff(delivery: Delivery) -> None:
        await push(delivery).apply_staff(delivery.payload_as(StaffData))

    return [
        consumer(Topic.INTERACTIONS, MAIL_GROUP, {"InteractionLogged": on_interaction_logged}),
        consumer(Topic.NOTIFICATIONS, MAIL_GROUP, {"EmailRequested": on_email_requested}),
        consumer(Topic.REMINDERS, MAIL_GROUP, {"ReminderDue": on_reminder_email}),
        consumer(
            Topic.CONTACTS,
            PUSH_GROUP,
            {
                "ContactCreated": on_contact,
                "ContactUpdated": on_contact,
                "ContactAssigned": on_contact_assigned,
                "ContactDeleted": on_contact_deleted,
            },
        ),
        consumer(Topic.INTERACTIONS, PUSH_GROUP, {"PortalMessageReceived": on_portal_message}),
        consumer(Topic.REMINDERS, PUSH_GROUP, {"ReminderDue": on_reminder_due}),
        consumer(
            Topic.STAFF,
            PUSH_GROUP,
            {
                "StaffCreated": on_staff,
                "StaffUpdated": on_staff,
                "CompetenceChanged": on_competence,
            },
        ),
    ]
