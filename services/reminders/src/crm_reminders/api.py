"""HTTP routes of the reminders service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from crm_reminders.deps import ReminderServiceDep
from crm_reminders.models import Reminder
from crm_reminders.schemas import ReminderPage, ReminderPublic, ReminderRules
from crm_shared.auth import AdminStaff, CurrentStaff
from crm_shared.copies import wait_for_copy
from crm_shared.errors import Unprocessable
from crm_shared.events import Topic
from crm_shared.service import RuntimeDep

router = APIRouter(prefix="/api/reminders", tags=["reminders"])


def to_public(reminder: Reminder) -> ReminderPublic:
    return ReminderPublic(
        id=reminder.id,
        due_at=reminder.due_at,
        email_at=reminder.email_at,
        procedure_id=reminder.procedure_id,
        interaction_id=reminder.interaction_id,
        contact_id=reminder.contact_id,
        staff_id=reminder.staff_id,
        subject=reminder.subject,
        fired=reminder.due_fired_at is not None,
    )


def _cursor(value: str | None) -> tuple[datetime, str] | None:
    if not value:
        return None
    due, sep, rid = value.partition("|")
    try:
        moment = datetime.fromisoformat(due)
    except ValueError:
        moment = None
    if not sep or not rid or moment is None or moment.tzinfo is None:
        raise Unprocessable("cursor", "invalid cursor")
    return moment, rid


@router.get("", response_model=ReminderPage)
async def list_reminders(
    service: ReminderServiceDep,
    runtime: RuntimeDep,
    staff: CurrentStaff,
    staff_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> ReminderPage:
    """A staff member's open reminders (default: yours), soonest first; those of the
    procedures and follow-ups the caller has just written included."""
    await wait_for_copy(runtime, [Topic.PROCEDURES.value, Topic.INTERACTIONS.value])
    rows = await service.repo.open_page(
        staff_id or staff.staff_id, after=_cursor(cursor), limit=limit + 1
    )
    items = [to_public(row) for row in rows[:limit]]
    last = items[-1] if len(rows) > limit else None
    return ReminderPage(
        items=items, next_cursor=f"{last.due_at.isoformat()}|{last.id}" if last else None
    )


@router.get("/rules", response_model=ReminderRules)
async def get_rules(service: ReminderServiceDep, _: CurrentStaff) -> ReminderRules:
    rule = await service.rules()
    return ReminderRules(
        clear_on_completion=rule.clear_on_completion, email_lead_hours=rule.email_lead_hours
    )


@router.put("/rules", response_model=ReminderRules)
async def put_rules(
    data: ReminderRules, service: ReminderServiceDep, _: AdminStaff
) -> ReminderRules:
    rule = await service.set_rules(data)
    return ReminderRules(
        clear_on_completion=rule.clear_on_completion, email_lead_hours=rule.email_lead_hours
    )


@router.delete("/{reminder_id}", status_code=204)
async def dismiss_reminder(
    reminder_id: str, service: ReminderServiceDep, staff: CurrentStaff
) -> Response:
    """Dismiss one of your reminders (admins: anyone's); emits ReminderCleared."""
    await service.dismiss(reminder_id, staff.staff_id, staff.is_admin)
    return Response(status_code=204)
