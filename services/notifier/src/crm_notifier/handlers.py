"""Kafka subscribers of the notifier: which event sends which email."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from jinja2 import TemplateNotFound

from crm_notifier.mailer import Email, Mailer, Templates
from crm_shared.consumer import DeadLetter, Delivery, EventConsumer
from crm_shared.events import EmailRequested, InteractionLogged, Topic
from crm_shared.service import Runtime

log = logging.getLogger(__name__)

BERLIN = ZoneInfo("Europe/Berlin")
DATE_FORMATS = {"de": "%d.%m.%Y %H:%M", "en": "%d %b %Y, %H:%M"}


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


def consumers(runtime: Runtime) -> Sequence[EventConsumer]:
    templates = Templates()
    mailer: Mailer = runtime.state["mailer"]

    async def on_interaction_logged(delivery: Delivery) -> None:
        email = interaction_email(delivery, templates)
        if email is not None:
            await mailer.send_once(email)

    async def on_email_requested(delivery: Delivery) -> None:
        try:
            email = requested_email(delivery, templates)
        except TemplateNotFound as exc:
            raise DeadLetter(f"unknown template {exc.name}") from exc
        await mailer.send_once(email)

    return [
        runtime.consumer(Topic.INTERACTIONS, {"InteractionLogged": on_interaction_logged}),
        runtime.consumer(Topic.NOTIFICATIONS, {"EmailRequested": on_email_requested}),
    ]
