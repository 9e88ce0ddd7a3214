"""What the notifier holds about a contact, on SQLite without servers (the fast lane): the
mails sent to it as its export shows them, and nothing of it after a permanent delete,
not even the address in a send-once guard (issue 19)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Collection
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from crm_dev.testing import RulesDb
from crm_notifier.mail import ErasedContacts
from crm_notifier.mailer import Email, guard_key, legacy_guard_key, message_id_of
from crm_notifier.main import MIGRATIONS
from crm_notifier.models import Notification, SentEmail
from crm_notifier.service import NotificationService
from crm_shared.db import Database, table_of
from crm_shared.events import EmailFailed, EmailSent, PortalMessageReceived
from crm_shared.outbox import Outbox

ADDRESS = "Zora.Zettel@example.com"
AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Erased(ErasedContacts):
    """The mail group's marks of deleted contacts, without Redis."""

    def __init__(self, *ids: str) -> None:
        self.ids = set(ids)

    async def holds(self, contact_id: str | None) -> bool:
        return contact_id in self.ids

    async def among(self, contact_ids: Collection[str]) -> set[str]:
        return self.ids & set(contact_ids)


@contextlib.asynccontextmanager
async def notifier(db: Database, erased: Erased) -> AsyncIterator[NotificationService]:
    async with db.unit_of_work() as session:
        yield NotificationService(session, Outbox("/crm/notifier"), None, erased)  # type: ignore[arg-type]
    await asyncio.sleep(0)


def sent(contact_id: str | None, template: str = "interaction_outgoing") -> EmailSent:
    cause = str(uuid.uuid4())
    return EmailSent(
        contact_id=contact_id,
        cause_event_id=cause,
        template=template,
        recipient=ADDRESS,
        message_id=message_id_of(cause, template, ADDRESS),
    )


async def test_the_mails_sent_to_a_contact_newest_first_failed_ones_too(
    rules_db: RulesDb,
) -> None:
    db, contact = await rules_db(MIGRATIONS), str(uuid.uuid4())
    first, second = sent(contact), sent(contact, "portal_login_link")
    failed = EmailFailed(
        contact_id=contact,
        cause_event_id="c3",
        template="text",
        recipient=ADDRESS,
        error="550 no such user",
    )
    async with notifier(db, Erased()) as service:
        await service.record_email(first, AT)
        await service.record_email(second, AT + timedelta(minutes=1))
        await service.record_email(second, AT + timedelta(minutes=1))  # a redelivery
        await service.record_email(failed, AT + timedelta(minutes=2))
        # to a staff member about the contact, and about no contact: not the contact's
        await service.record_email(sent(contact, "reminder_email"), AT)
        await service.record_email(sent(None), AT)
    async with notifier(db, Erased()) as service:
        data = await service.personal_data(contact)
    assert [(e.template, e.status, e.error) for e in data.emails] == [
        ("text", "failed", "550 no such user"),
        ("portal_login_link", "sent", None),
        ("interaction_outgoing", "sent", None),
    ]
    assert data.emails[1].message_id == second.message_id
    assert {e.recipient for e in data.emails} == {ADDRESS}


async def test_a_delete_erases_the_mails_and_a_late_report_adds_none(rules_db: RulesDb) -> None:
    db, contact = await rules_db(MIGRATIONS), str(uuid.uuid4())
    async with notifier(db, Erased()) as service:
        await service.record_email(sent(contact), AT)
    async with notifier(db, Erased(contact)) as service:
        await service.erase_contact(contact)
        await service.record_email(sent(contact), AT)  # sent just before the delete
    async with db.sessionmaker() as session:
        assert (await session.execute(sa.select(table_of(SentEmail)))).all() == []


def test_the_send_once_guard_names_no_address() -> None:
    email = Email("cause", "c1", "interaction_outgoing", ADDRESS, "Betreff", "Text")
    key = guard_key(email)
    assert ADDRESS.lower() not in key.lower() and "zettel" not in key.lower()
    assert key.startswith("crm:notifier:sent:cause:interaction_outgoing:")
    # the same recipient in another spelling is the same mail
    assert guard_key(Email("cause", "c1", "interaction_outgoing", ADDRESS.lower(), "", "")) == key
    assert ADDRESS in legacy_guard_key(email)  # only read, for mails sent before


async def test_no_notification_names_a_contact_deleted_meanwhile(rules_db: RulesDb) -> None:
    """A portal message processed after the contact's delete (another topic) stores
    nothing that names it."""
    db, contact = await rules_db(MIGRATIONS), str(uuid.uuid4())
    message = PortalMessageReceived(
        interaction_id="i1",
        contact_id=contact,
        contact_name="Zora Zettel",
        topic="Frage",
        text="…",
        received_at=AT,
    )
    async with notifier(db, Erased(contact)) as service:
        await service.erase_contact(contact)
        stored = await service.push(
            ["anna"],
            kind="portal_message",
            cause_event_id="c",
            fields={"name": "Zora Zettel", "topic": "Frage"},
            contact_id=contact,
        )
        await service.portal_message(message, "cause")
    assert stored == []
    async with db.sessionmaker() as session:
        assert (await session.execute(sa.select(table_of(Notification)))).all() == []
