"""Kafka subscribers of the notifier (thin: the rules live in :mod:`crm_notifier.mail`
and :mod:`crm_notifier.service`), in two consumer groups, because the two kinds of
effect need different guards (:data:`crm_notifier.deps.MAIL_GROUP`,
:data:`crm_notifier.deps.PUSH_GROUP`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from crm_notifier.deps import MAIL_GROUP, PUSH_GROUP, NotifierDeps
from crm_notifier.service import NotificationService
from crm_shared.consumer import Bulk, Delivery, EventConsumer, Handler
from crm_shared.events import (
    CompetenceChanged,
    ContactAssigned,
    ContactDeleted,
    ContactSnapshot,
    EmailFailed,
    EmailRequested,
    EmailSent,
    InteractionLogged,
    PortalMessageReceived,
    ReminderDue,
    StaffData,
    Topic,
)

MAILS_PER_CONNECTION = 4
"""Mails under way per pooled SMTP connection (rendering, the guard's lookup, the
report): enough that the connections never wait for them."""


def consumers(deps: NotifierDeps) -> Sequence[EventConsumer]:
    runtime = deps.runtime
    mail = deps.mail

    def consumer(topic: str, group: str, handlers: Mapping[str, Handler]) -> EventConsumer:
        if group == MAIL_GROUP:
            # guarded in Redis with the mails; mails to different contacts go out at once,
            # more of them than the pool has connections, so that one waiting for Redis or
            # Kafka leaves its connection to another (a guard is written while its mail
            # still holds the connection: at most one unguarded mail per connection)
            return runtime.consumer(
                topic,
                handlers,
                group_id=group,
                dedupe_in="redis",
                concurrency=MAILS_PER_CONNECTION * deps.settings.smtp_pool_size,
            )
        return runtime.consumer(topic, handlers, group_id=group, dedupe_in="database")

    # --- emails -------------------------------------------------------------------------

    async def on_interaction_logged(delivery: Delivery) -> None:
        await mail.interaction_logged(delivery.payload_as(InteractionLogged), delivery.event.id)

    async def on_email_requested(delivery: Delivery) -> None:
        await mail.email_requested(delivery.payload_as(EmailRequested), delivery.event.id)

    async def on_reminder_email(delivery: Delivery) -> None:
        await mail.reminder_due(delivery.payload_as(ReminderDue), delivery.event.id)

    # --- push notifications ---------------------------------------------------------------

    def notifications(delivery: Delivery) -> NotificationService:
        return deps.notifications(delivery.tx)

    async def on_contacts(deliveries: Sequence[Delivery]) -> None:
        snapshots = [delivery.payload_as(ContactSnapshot) for delivery in deliveries]
        await notifications(deliveries[0]).apply_snapshots(snapshots)

    on_contact = Bulk(on_contacts)

    async def on_contact_assigned(delivery: Delivery) -> None:
        event = delivery.payload_as(ContactAssigned)
        await notifications(delivery).contact_assigned(event, delivery.event.id)

    async def on_contact_deleted(delivery: Delivery) -> None:
        contact_id = delivery.payload_as(ContactDeleted).contact_id
        await mail.contact_deleted(contact_id)  # for the mail group: no mail for it from now on
        await notifications(delivery).erase_contact(contact_id)

    async def on_portal_message(delivery: Delivery) -> None:
        event = delivery.payload_as(PortalMessageReceived)
        await notifications(delivery).portal_message(event, delivery.event.id)

    async def on_reminder_due(delivery: Delivery) -> None:
        event = delivery.payload_as(ReminderDue)
        await notifications(delivery).reminder_due(event, delivery.event.id)

    async def on_email_reports(deliveries: Sequence[Delivery]) -> None:
        reports: list[tuple[EmailSent | EmailFailed, datetime]] = []
        for delivery in deliveries:
            payload = delivery.payload
            if not isinstance(payload, EmailSent | EmailFailed):
                raise TypeError(f"not a mail report: {type(payload).__name__}")
            reports.append((payload, delivery.event.time))
        await notifications(deliveries[0]).record_emails(reports)

    on_email_report = Bulk(on_email_reports)  # a mailing's reports come in thousands

    async def on_competence(delivery: Delivery) -> None:
        await notifications(delivery).apply_competence(delivery.payload_as(CompetenceChanged))

    async def on_staff(delivery: Delivery) -> None:
        await notifications(delivery).apply_staff(delivery.payload_as(StaffData))

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
        consumer(
            Topic.NOTIFICATIONS,
            PUSH_GROUP,
            {"EmailSent": on_email_report, "EmailFailed": on_email_report},
        ),
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
