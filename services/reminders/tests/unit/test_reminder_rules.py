"""The reminders service's rules on SQLite, without servers (the fast lane): which event
makes which reminder, with which stages, when it is cleared, when it fires."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from crm_dev.rules import emitted
from crm_dev.testing import RulesDb
from crm_reminders.main import MIGRATIONS
from crm_reminders.models import Reminder
from crm_reminders.schedule import Claim, Stage
from crm_reminders.schemas import ReminderRules
from crm_reminders.service import ReminderService
from crm_shared.db import Database
from crm_shared.errors import NotFound, Problem
from crm_shared.events import (
    ContactCopy,
    InteractionLogged,
    InteractionUpdated,
    ProcedureCompleted,
    ProcedurePlanned,
    ProcedureRescheduled,
    StaffCreated,
    StaffRef,
)
from crm_shared.outbox import Outbox

OUTBOX = Outbox("/crm/reminders")
CREATOR = StaffRef(staff_id="creator", name="Admin")
STARTS = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Schedule:
    """Stands in for the Redis schedule: what was added and removed after commits."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], datetime] = {}
        self.removed: list[str] = []

    async def add(
        self, entries: Iterable[tuple[str, Stage, datetime]], *, only_new: bool = False
    ) -> None:
        for reminder_id, stage, at in entries:
            self.entries[(reminder_id, stage)] = at

    async def remove(self, reminder_ids: Sequence[str]) -> None:
        self.removed += reminder_ids
        for key in [k for k in self.entries if k[0] in reminder_ids]:
            del self.entries[key]


@contextlib.asynccontextmanager
async def reminders(db: Database, schedule: Schedule) -> AsyncIterator[ReminderService]:
    """The service in a unit of work of its own, as a consumer or a request runs it."""
    async with db.unit_of_work() as session:
        yield ReminderService(session, OUTBOX, schedule)  # type: ignore[arg-type]
    await asyncio.sleep(0)  # the after-commit actions run as tasks of their own


def planned(**over: Any) -> ProcedurePlanned:
    fields: dict[str, Any] = {
        "procedure_id": str(uuid.uuid4()),
        "contact_id": str(uuid.uuid4()),
        "responsible_id": "anna",
        "created_by": CREATOR,
        "type": "call",
        "direction": "outgoing",
        "state": "planned",
        "starts_at": STARTS,
        "duration_minutes": 0,
        "reminder": True,
        "subject": "Rückruf Angebot",
    }
    return ProcedurePlanned(**(fields | over))


def rescheduled(plan: ProcedurePlanned, **over: Any) -> ProcedureRescheduled:
    return ProcedureRescheduled(**(plan.model_dump() | over), old_starts_at=plan.starts_at)


def completed(plan: ProcedurePlanned) -> ProcedureCompleted:
    data = plan.model_dump() | {"state": "done", "duration_minutes": 15}
    return ProcedureCompleted(**data, outcome="done", completed_by=CREATOR)


def logged(follow_up_on: date | None, interaction_id: str | None = None) -> InteractionLogged:
    return InteractionLogged(
        interaction_id=interaction_id or str(uuid.uuid4()),
        contact_id="c1",
        topic="Angebot nachfassen",
        kind="internal",
        text="...",
        occurred_at=STARTS,
        follow_up_on=follow_up_on,
        recorded_by=StaffRef(staff_id="anna", name="Anna Berger"),
        contact=ContactCopy(name="Erika Mustermann"),
    )


async def open_of(db: Database, staff_id: str = "anna") -> list[Any]:
    async with reminders(db, Schedule()) as service:
        return (await service.page(staff_id, cursor=None, limit=500)).items


async def test_a_procedure_planned_with_reminder_gets_a_reminder_with_two_stages(
    rules_db: RulesDb,
) -> None:
    db, schedule = await rules_db(MIGRATIONS), Schedule()
    plan = planned()
    async with reminders(db, schedule) as service:
        await service.apply_procedure(plan, "cause-1")
        await service.apply_procedure(plan, "cause-1")  # a redelivery: nothing new
        await service.apply_procedure(planned(reminder=False), "cause-2")
        await service.apply_procedure(planned(state="done"), "cause-3")

    [created] = await emitted(db, "ReminderCreated")
    assert created.data["procedure_id"] == plan.procedure_id  # type: ignore[index]
    [mine] = await open_of(db)
    assert (mine.procedure_id, mine.subject, mine.due_at) == (
        plan.procedure_id,
        plan.subject,
        STARTS,
    )
    assert mine.email_at == STARTS - timedelta(hours=24)  # the default lead
    assert mine.fired is False
    assert schedule.entries == {
        (mine.id, "email"): STARTS - timedelta(hours=24),
        (mine.id, "due"): STARTS,
    }


async def test_without_a_responsible_the_creator_gets_the_reminder(rules_db: RulesDb) -> None:
    db = await rules_db(MIGRATIONS)
    async with reminders(db, Schedule()) as service:
        await service.apply_procedure(planned(responsible_id=None), "cause-1")
    assert await open_of(db) == []
    assert len(await open_of(db, "creator")) == 1


async def test_the_email_stage_follows_the_lead_hours_of_the_rule(rules_db: RulesDb) -> None:
    db, schedule = await rules_db(MIGRATIONS), Schedule()
    async with reminders(db, schedule) as service:
        assert ReminderRules.of(await service.rules()) == ReminderRules()  # true / 24 h
        await service.set_rules(ReminderRules(clear_on_completion=True, email_lead_hours=2))
    async with reminders(db, schedule) as service:
        await service.apply_procedure(planned(), "cause-1")
    [mine] = await open_of(db)
    assert mine.email_at == STARTS - timedelta(hours=2)
    assert schedule.entries[(mine.id, "email")] == STARTS - timedelta(hours=2)


async def test_completion_clears_the_reminder_when_the_rule_says_so(rules_db: RulesDb) -> None:
    db, schedule = await rules_db(MIGRATIONS), Schedule()
    plan = planned()
    async with reminders(db, schedule) as service:
        await service.apply_procedure(plan, "cause-1")
    async with reminders(db, schedule) as service:
        await service.apply_procedure(completed(plan), "cause-2")
    [cleared] = await emitted(db, "ReminderCleared")
    assert cleared.data["reason"] == "completed"  # type: ignore[index]
    assert await open_of(db) == []
    assert schedule.entries == {} and schedule.removed == [cleared.data["reminder_id"]]  # type: ignore[index]


async def test_completion_keeps_the_reminder_when_the_rule_is_off(rules_db: RulesDb) -> None:
    db, schedule = await rules_db(MIGRATIONS), Schedule()
    plan = planned()
    async with reminders(db, schedule) as service:
        await service.set_rules(ReminderRules(clear_on_completion=False, email_lead_hours=24))
        await service.apply_procedure(plan, "cause-1")
    async with reminders(db, schedule) as service:
        await service.apply_procedure(completed(plan), "cause-2")
    assert await emitted(db, "ReminderCleared") == []
    assert [r.procedure_id for r in await open_of(db)] == [plan.procedure_id]
    assert len(schedule.entries) == 2  # it still fires


async def test_a_rescheduled_procedure_gets_a_new_reminder_and_a_renamed_one_keeps_it(
    rules_db: RulesDb,
) -> None:
    db, schedule = await rules_db(MIGRATIONS), Schedule()
    plan = planned()
    later = STARTS + timedelta(days=1)
    async with reminders(db, schedule) as service:
        await service.apply_procedure(plan, "cause-1")
    [first] = await open_of(db)
    async with reminders(db, schedule) as service:
        await service.apply_procedure(rescheduled(plan, subject="Neuer Betreff"), "cause-2")
    [same] = await open_of(db)
    assert (same.id, same.subject) == (first.id, "Neuer Betreff")
    async with reminders(db, schedule) as service:
        await service.apply_procedure(rescheduled(plan, starts_at=later), "cause-3")
    [moved] = await open_of(db)
    assert moved.id != first.id and moved.due_at == later
    [cleared] = await emitted(db, "ReminderCleared")
    assert (cleared.data["reminder_id"], cleared.data["reason"]) == (first.id, "rescheduled")  # type: ignore[index]
    assert schedule.removed == [first.id]
    assert set(schedule.entries) == {(moved.id, "email"), (moved.id, "due")}


@pytest.mark.parametrize(
    ("day", "due"),
    [
        (date(2026, 1, 15), datetime(2026, 1, 15, 7, 0, tzinfo=UTC)),  # winter: UTC+1
        (date(2026, 3, 29), datetime(2026, 3, 29, 6, 0, tzinfo=UTC)),  # clocks go forward
        (date(2026, 10, 25), datetime(2026, 10, 25, 7, 0, tzinfo=UTC)),  # clocks go back
    ],
)
async def test_a_follow_up_date_is_due_at_eight_in_berlin(
    rules_db: RulesDb, day: date, due: datetime
) -> None:
    db = await rules_db(MIGRATIONS)
    follow_up = logged(day)
    async with reminders(db, Schedule()) as service:
        await service.apply_interaction(follow_up, "cause-1")
    [mine] = await open_of(db)
    assert (mine.due_at, mine.interaction_id) == (due, follow_up.interaction_id)
    assert mine.subject == "Angebot nachfassen"


async def test_a_changed_follow_up_date_moves_the_reminder_and_a_removed_one_clears_it(
    rules_db: RulesDb,
) -> None:
    db, schedule = await rules_db(MIGRATIONS), Schedule()
    first = logged(date(2026, 12, 1))
    async with reminders(db, schedule) as service:
        await service.apply_interaction(first, "cause-1")
    [before] = await open_of(db)
    changed = InteractionUpdated(
        **(first.model_dump(exclude={"reply_to", "contact", "origin"}) | {"recorded_by": None}),
        changed=["follow_up_on"],
    )
    async with reminders(db, schedule) as service:
        await service.apply_interaction(
            changed.model_copy(update={"follow_up_on": date(2026, 12, 2)}), "cause-2"
        )
    [after] = await open_of(db)  # for the same staff member, the recorder
    assert after.id != before.id
    assert after.due_at == datetime(2026, 12, 2, 7, 0, tzinfo=UTC)
    async with reminders(db, schedule) as service:
        await service.apply_interaction(
            changed.model_copy(update={"follow_up_on": None}), "cause-3"
        )
    assert await open_of(db) == []
    reasons = [e.data["reason"] for e in await emitted(db, "ReminderCleared")]  # type: ignore[index]
    assert reasons == ["rescheduled", "rescheduled"]


async def test_each_stage_fires_once_with_the_staff_members_address(rules_db: RulesDb) -> None:
    db, schedule = await rules_db(MIGRATIONS), Schedule()
    async with reminders(db, schedule) as service:
        await service.apply_staff(
            StaffCreated(
                staff_id="anna",
                username="anna",
                name="Anna Berger",
                email="anna@firma.example",
                language="en",
            )
        )
        await service.apply_procedure(planned(), "cause-1")
    [mine] = await open_of(db)
    claims = [Claim(mine.id, "email", 0.0), Claim(mine.id, "due", 0.0)]
    async with reminders(db, schedule) as service:
        fired = await service.fire(claims, lock=False)
    async with reminders(db, schedule) as service:
        again = await service.fire(claims, lock=False)  # a claim handed out twice
    assert [(d.stage, d.staff_email, d.staff_language) for d in fired] == [
        ("email", "anna@firma.example", "en"),
        ("due", "anna@firma.example", "en"),
    ]
    assert again == []
    assert len(await emitted(db, "ReminderDue")) == 2
    [listed] = await open_of(db)
    assert listed.fired is True  # still listed until dismissed or completed


async def test_only_its_staff_member_or_an_admin_dismisses_a_reminder(
    rules_db: RulesDb,
) -> None:
    db = await rules_db(MIGRATIONS)
    async with reminders(db, Schedule()) as service:
        await service.apply_procedure(planned(), "cause-1")
        await service.apply_procedure(planned(), "cause-2")
    first, second = await open_of(db)
    async with reminders(db, Schedule()) as service:
        with pytest.raises(Problem) as refused:
            await service.dismiss(first.id, "ben", is_admin=False)
        assert refused.value.status == 403
        await service.dismiss(first.id, "anna", is_admin=False)
        await service.dismiss(second.id, "admin", is_admin=True)
    async with reminders(db, Schedule()) as service:
        with pytest.raises(NotFound):  # gone from the list: nothing to dismiss
            await service.dismiss(first.id, "anna", is_admin=False)
    reasons = [e.data["reason"] for e in await emitted(db, "ReminderCleared")]  # type: ignore[index]
    assert reasons == ["dismissed", "dismissed"]


async def test_pages_follow_the_opaque_cursor_soonest_first(rules_db: RulesDb) -> None:
    db = await rules_db(MIGRATIONS)
    async with reminders(db, Schedule()) as service:
        for n in (3, 1, 4, 0, 2):
            await service.apply_procedure(planned(starts_at=STARTS + timedelta(hours=n)), f"c{n}")
    seen: list[datetime] = []
    cursor: str | None = None
    async with reminders(db, Schedule()) as service:
        for _ in range(3):
            page = await service.page("anna", cursor=cursor, limit=2)
            seen += [r.due_at for r in page.items]
            cursor = page.next_cursor
        assert cursor is None
        with pytest.raises(Problem) as bad:
            await service.page("anna", cursor="2026-12-01T09:00:00+00:00|x", limit=2)
    assert seen == [STARTS + timedelta(hours=n) for n in range(5)]
    assert bad.value.status == 422


async def test_a_deleted_contact_leaves_no_reminder_and_no_subject(rules_db: RulesDb) -> None:
    db = await rules_db(MIGRATIONS)
    plan, other = planned(), planned()
    async with reminders(db, Schedule()) as service:
        await service.apply_procedure(plan, "cause-1")
        await service.apply_procedure(other, "cause-2")
    async with reminders(db, Schedule()) as service:
        await service.erase_contact(plan.contact_id)
    assert [r.contact_id for r in await open_of(db)] == [other.contact_id]
    [cleared] = await emitted(db, "ReminderCleared")
    assert cleared.data["reason"] == "contact_deleted"  # type: ignore[index]
    async with db.sessionmaker() as session:
        erased = await session.get(Reminder, cleared.data["reminder_id"])  # type: ignore[index]
    assert erased is not None and erased.subject == ""


async def test_a_deleted_contact_gets_no_new_reminder_from_a_late_event(rules_db: RulesDb) -> None:
    """A procedure planned just before the contact's delete, whose event is processed
    after it (another topic): no reminder with its subject comes back (issue 19)."""
    db = await rules_db(MIGRATIONS)
    plan = planned()
    async with reminders(db, Schedule()) as service:
        await service.erase_contact(plan.contact_id)
    async with reminders(db, Schedule()) as service:
        await service.apply_procedure(plan, "cause-late")
        data = await service.personal_data(plan.contact_id)
    assert data.reminders == []
    assert await emitted(db, "ReminderCreated") == []
