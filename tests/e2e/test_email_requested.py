"""Other services ask the notifier for mail with EmailRequested (mailings, login links)."""

from __future__ import annotations

import uuid

from crm_dev.stack import Stack
from crm_dev.testing import Mailbox
from crm_shared.events import EmailRequested, Topic, make_event
from crm_shared.kafka import EventProducer


async def test_requested_email_is_sent_once_even_if_published_twice(
    stack: Stack, mail: Mailbox
) -> None:
    recipient = f"mailing-{uuid.uuid4().hex[:10]}@example.com"
    event = make_event(
        EmailRequested(
            request_id=str(uuid.uuid4()),
            contact_id=str(uuid.uuid4()),
            recipient=recipient,
            template="portal_login_link",
            language="de",
            context={"name": "Erika", "link": "http://crm/portal/login?t=1", "expires_minutes": 15},
        ),
        source="/crm/test",
    )
    producer = EventProducer(stack.config.kafka_bootstrap, client_id="test")
    await producer.start()
    try:
        await producer.publish(Topic.NOTIFICATIONS, event)
        await producer.publish(Topic.NOTIFICATIONS, event)  # a redelivery: same event id
    finally:
        await producer.stop()
    [message] = mail.wait_for(recipient, timeout=10)
    assert message["Subject"] == "Ihr Anmeldelink zum Kundenportal"
    assert len(mail.wait_for(recipient, count=2, timeout=3)) == 1
