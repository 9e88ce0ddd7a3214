"""Pure rules of the reminders service: follow-up times and the stages still to fire."""

from datetime import UTC, date, datetime, timedelta

from crm_reminders.models import CLEARED, Reminder
from crm_reminders.schedule import member
from crm_reminders.service import follow_up_due, next_fire, stages_of


def test_follow_up_is_due_at_eight_berlin_time_in_winter_and_summer() -> None:
    assert follow_up_due(date(2026, 1, 15)) == datetime(2026, 1, 15, 7, 0, tzinfo=UTC)
    assert follow_up_due(date(2026, 7, 15)) == datetime(2026, 7, 15, 6, 0, tzinfo=UTC)
    # the day the clocks go forward
    assert follow_up_due(date(2026, 3, 29)) == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)


def reminder(**fields: object) -> Reminder:
    due = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    base: dict[str, object] = {
        "staff_id": "s",
        "contact_id": "c",
        "subject": "x",
        "due_at": due,
        "email_at": due - timedelta(hours=24),
    }
    return Reminder(**(base | fields))


def test_both_stages_pending_then_only_due_then_none() -> None:
    r = reminder()
    assert [s for s, _ in stages_of(r)] == ["email", "due"]
    assert next_fire(r) == r.email_at
    r.email_fired_at = datetime.now(UTC)
    assert [s for s, _ in stages_of(r)] == ["due"]
    assert next_fire(r) == r.due_at
    r.due_fired_at = datetime.now(UTC)
    assert stages_of(r) == [] and next_fire(r) is None


def test_cleared_reminders_have_nothing_to_fire() -> None:
    r = reminder(state=CLEARED)
    assert stages_of(r) == [] and next_fire(r) is None


def test_schedule_member_names_reminder_and_stage() -> None:
    assert member("r1", "email") == "r1|email"
