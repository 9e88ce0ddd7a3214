"""The notifier's push rules on SQLite, without servers (the fast lane): who gets a
notification, in which language, read and unread, paging, erasure."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from crm_dev.rules import emitted
from crm_dev.testing import RulesDb
from crm_notifier.mail import reminder_email
from crm_notifier.main import MIGRATIONS
from crm_notifier.schemas import NotificationPublic
from crm_notifier.service import NotificationService
from crm_notifier.texts import Templates
from crm_shared.db import Database
from crm_shared.errors import NotFound, Problem
from crm_shared.events import (
    Assignment,
    CompetenceChanged,
    ContactAssigned,
    ContactCreated,
    PortalMessageReceived,
    ReminderDue,
    StaffCreated,
)
from crm_shared.outbox import Outbox

OUTBOX = Outbox("/crm/notifier")


class Published:
    """Stands in for the Redis channels: what went out live, and when."""

    def __init__(self) -> None:
        self.items: list[NotificationPublic] = []

    async def publish(self, notifications: Sequence[NotificationPublic]) -> None:
        self.items.extend(notifications)


@contextlib.asynccontextmanager
async def notifier(db: Database, live: Published) -> AsyncIterator[NotificationService]:
    """The service in a unit of work of its own, as a consumer or a request runs it."""
    async with db.unit_of_work() as session:
        yield NotificationService(session, OUTBOX, live)  # type: ignore[arg-type]
    await asyncio.sleep(0)  # the after-commit actions run as tasks of their own


def staff(language: str = "de", active: bool = True) -> StaffCreated:
    return StaffCreated(
        staff_id=str(uuid.uuid4()),
        username=f"s{uuid.uuid4().hex[:8]}",
        name="Anna Berger",
        language=language,
        active=active,
    )


def portal_message(contact_id: str) -> PortalMessageReceived:
    return PortalMessageReceived(
        interaction_id=str(uuid.uuid4()),
        contact_id=contact_id,
        contact_name="Erika Mustermann",
        topic="Lieferung",
        text="Wann kommt meine Lieferung?",
        received_at=datetime.now(UTC),
    )


def assigned(contact_id: str, assignment: Assignment, notify: list[str], version: int) -> Any:
    return ContactAssigned(
        contact_id=contact_id,
        contact_name="Erika Mustermann",
        assignment=assignment,
        notify_staff_ids=notify,
        version=version,
    )


async def test_a_notification_is_stored_per_staff_member_once_and_counted_unread(
    rules_db: RulesDb,
) -> None:
    db, live = await rules_db(MIGRATIONS), Published()
    anna, ben = staff(), staff("en")
    contact = str(uuid.uuid4())
    notify = [anna.staff_id, ben.staff_id, anna.staff_id, ""]
    event = assigned(contact, Assignment(mode="staff", staff_id=anna.staff_id), notify, 1)
    async with notifier(db, live) as service:
        await service.apply_staff(anna)
        await service.apply_staff(ben)
    async with notifier(db, live) as service:
        await service.contact_assigned(event, "cause-1")
    async with notifier(db, live) as service:  # the same cause again (a redelivery)
        await service.contact_assigned(event, "cause-1")

    pushed = [e.data["staff_id"] for e in await emitted(db, "NotificationPushed")]  # type: ignore[index]
    assert sorted(pushed) == sorted([anna.staff_id, ben.staff_id])
    assert [n.staff_id for n in live.items] == [anna.staff_id, ben.staff_id]  # after the commit
    async with notifier(db, live) as service:
        mine = await service.page(anna.staff_id, unread_only=False, cursor=None, limit=50)
        theirs = await service.page(ben.staff_id, unread_only=False, cursor=None, limit=50)
    assert [n.title for n in mine.items] == ["Ihnen wurde der Kontakt Erika Mustermann zugewiesen"]
    assert [n.title for n in theirs.items] == ["Contact Erika Mustermann was assigned to you"]
    assert (mine.unread, theirs.unread) == (1, 1)
    assert mine.items[0].link == f"/contacts/{contact}"


async def test_nothing_goes_out_live_when_the_transaction_rolls_back(rules_db: RulesDb) -> None:
    db, live = await rules_db(MIGRATIONS), Published()
    anna = str(uuid.uuid4())
    with pytest.raises(RuntimeError):
        async with notifier(db, live) as service:
            await service.contact_assigned(
                assigned(str(uuid.uuid4()), Assignment(), [anna], 1), "c"
            )
            raise RuntimeError("the handler failed after the push")
    await asyncio.sleep(0)
    assert live.items == []
    assert await emitted(db, "NotificationPushed") == []


async def test_only_your_own_notifications_are_marked_read(rules_db: RulesDb) -> None:
    db, live = await rules_db(MIGRATIONS), Published()
    anna, ben = str(uuid.uuid4()), str(uuid.uuid4())
    async with notifier(db, live) as service:
        for n in range(3):
            event = assigned(str(uuid.uuid4()), Assignment(), [anna], 1)
            await service.contact_assigned(event, f"cause-{n}")
        await service.contact_assigned(assigned(str(uuid.uuid4()), Assignment(), [ben], 1), "b")
    async with notifier(db, live) as service:
        first, *_ = (await service.page(anna, unread_only=False, cursor=None, limit=50)).items
        with pytest.raises(NotFound):
            await service.mark_read(ben, first.id)
        with pytest.raises(NotFound):
            await service.mark_read(anna, "no-such-notification")
        read = await service.mark_read(anna, first.id)
        assert read.read_at is not None
        again = await service.mark_read(anna, first.id)  # once read, it stays read then
        assert again.read_at == read.read_at
    async with notifier(db, live) as service:
        assert (await service.page(anna, unread_only=False, cursor=None, limit=50)).unread == 2
        unread = await service.page(anna, unread_only=True, cursor=None, limit=50)
        assert first.id not in {n.id for n in unread.items} and len(unread.items) == 2
        assert await service.mark_all_read(anna) == 2
    async with notifier(db, live) as service:
        assert (await service.page(anna, unread_only=False, cursor=None, limit=50)).unread == 0
        assert (await service.page(ben, unread_only=False, cursor=None, limit=50)).unread == 1


async def test_a_contact_of_a_competence_notifies_its_members_in_their_language(
    rules_db: RulesDb,
) -> None:
    db, live = await rules_db(MIGRATIONS), Published()
    one, two, three = staff(), staff("en"), staff()
    competence = CompetenceChanged(
        competence_id=str(uuid.uuid4()), name="Vertrieb", member_ids=[two.staff_id]
    )
    contact = str(uuid.uuid4())
    async with notifier(db, live) as service:
        for member in (one, two, three):
            await service.apply_staff(member)
        await service.apply_competence(competence)
        members = [two.staff_id, three.staff_id]  # changed later: the new list counts
        await service.apply_competence(competence.model_copy(update={"member_ids": members}))
        await service.apply_snapshots(
            [
                ContactCreated(
                    contact_id=contact,
                    kind="person",
                    name="Erika Mustermann",
                    status="customer",
                    assignment=Assignment(mode="staff", staff_id=one.staff_id),
                    version=1,
                )
            ]
        )
        moved = Assignment(mode="competence", competence_id=competence.competence_id)
        await service.apply_assignment(assigned(contact, moved, [], 2))
        stale = Assignment(mode="staff", staff_id=one.staff_id)
        await service.apply_assignment(assigned(contact, stale, [], 1))  # late: ignored
    async with notifier(db, live) as service:
        assert await service.assigned_staff(contact) == [two.staff_id, three.staff_id]
        await service.portal_message(portal_message(contact), "cause-1")
    titles = {n.staff_id: n.title for n in live.items}
    assert titles == {
        two.staff_id: "New portal message from Erika Mustermann: Lieferung",
        three.staff_id: "Neue Portalnachricht von Erika Mustermann: Lieferung",
    }


async def test_a_contact_for_all_notifies_every_active_staff_member(rules_db: RulesDb) -> None:
    db, live = await rules_db(MIGRATIONS), Published()
    active, gone = staff(), staff(active=False)
    contact = str(uuid.uuid4())
    async with notifier(db, live) as service:
        await service.apply_staff(active)
        await service.apply_staff(gone)
        await service.apply_assignment(assigned(contact, Assignment(mode="all"), [], 1))
        await service.portal_message(portal_message(contact), "cause-1")
        # a contact the notifier has no copy of reaches nobody
        await service.portal_message(portal_message(str(uuid.uuid4())), "cause-2")
    assert [n.staff_id for n in live.items] == [active.staff_id]


async def test_a_due_reminder_is_pushed_in_berlin_time_and_its_email_stage_is_not(
    rules_db: RulesDb,
) -> None:
    db, live = await rules_db(MIGRATIONS), Published()
    anna = str(uuid.uuid4())
    common: dict[str, Any] = {
        "reminder_id": str(uuid.uuid4()),
        "contact_id": str(uuid.uuid4()),
        "staff_id": anna,
        "due_at": datetime(2026, 7, 1, 7, 30, tzinfo=UTC),
        "subject": "Rückruf Angebot",
        "interaction_id": "i1",
        "staff_language": "en",
    }
    async with notifier(db, live) as service:
        await service.reminder_due(ReminderDue(**common, stage="email"), "cause-email")
        await service.reminder_due(ReminderDue(**common, stage="due"), "cause-due")
    [pushed] = live.items
    assert (pushed.kind, pushed.title) == ("reminder_due", "Reminder: Rückruf Angebot")
    assert pushed.body == "Due 01 Jul 2026, 09:30"  # summer time in Berlin
    assert pushed.link == "/interactions/i1"


@pytest.mark.parametrize(
    ("language", "subject"),
    [
        ("de", "Erinnerung: Rückruf Angebot am 01.12.2026 10:30"),
        ("en", "Reminder: Rückruf Angebot on 01 Dec 2026, 10:30"),
    ],
)
def test_the_reminder_email_in_the_staff_members_language(language: str, subject: str) -> None:
    due = ReminderDue(
        reminder_id="r1",
        contact_id="c1",
        staff_id="s1",
        due_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        subject="Rückruf Angebot",
        procedure_id="p1",
        stage="email",
        staff_email="anna@firma.example",
        staff_language=language,
    )
    email = reminder_email(due, "cause-1", Templates())
    assert email is not None and email.subject == subject
    assert email.recipient == "anna@firma.example"
    assert reminder_email(due.model_copy(update={"stage": "due"}), "c", Templates()) is None
    no_address = due.model_copy(update={"staff_email": None})
    assert reminder_email(no_address, "cause-1", Templates()) is None


async def test_pages_follow_the_opaque_cursor_newest_first(rules_db: RulesDb) -> None:
    db, live = await rules_db(MIGRATIONS), Published()
    anna = str(uuid.uuid4())
    for n in range(5):  # one transaction each, so each has its own moment
        async with notifier(db, live) as service:
            await service.push(
                [anna], kind="reminder_due", cause_event_id=f"c{n}", fields={"subject": f"{n}"}
            )
    seen: list[str] = []
    cursor: str | None = None
    async with notifier(db, live) as service:
        for _ in range(3):
            page = await service.page(anna, unread_only=False, cursor=cursor, limit=2)
            seen += [n.title for n in page.items]
            cursor = page.next_cursor
        assert cursor is None
        with pytest.raises(Problem) as bad:
            await service.page(anna, unread_only=False, cursor="x", limit=2)
    assert seen == [f"Erinnerung: {n}" for n in range(4, -1, -1)]
    assert bad.value.status == 422


async def test_a_deleted_contact_leaves_no_notification_and_no_copy(rules_db: RulesDb) -> None:
    db, live = await rules_db(MIGRATIONS), Published()
    anna = str(uuid.uuid4())
    contact, other = str(uuid.uuid4()), str(uuid.uuid4())
    async with notifier(db, live) as service:
        staffed = Assignment(mode="staff", staff_id=anna)
        await service.contact_assigned(assigned(contact, staffed, [anna], 1), "c1")
        await service.contact_assigned(assigned(other, staffed, [anna], 1), "c2")
    async with notifier(db, live) as service:
        await service.erase_contact(contact)
    async with notifier(db, live) as service:
        page = await service.page(anna, unread_only=False, cursor=None, limit=50)
        assert [n.contact_id for n in page.items] == [other]
        assert await service.assigned_staff(contact) == []
        assert await service.assigned_staff(other) == [anna]
