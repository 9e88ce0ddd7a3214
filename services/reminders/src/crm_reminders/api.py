"""HTTP routes of the reminders service."""

from __future__ import annotations

from fastapi import APIRouter, Response

from crm_reminders.deps import ReminderServiceDep
from crm_reminders.schemas import ReminderPage, ReminderRules, RemindersPersonalData
from crm_shared.auth import AdminStaff, CurrentStaff
from crm_shared.copies import wait_for_copy
from crm_shared.events import Topic
from crm_shared.fields import PlainText
from crm_shared.paging import Cursor, Limit
from crm_shared.service import RuntimeDep

router = APIRouter(prefix="/api/reminders", tags=["reminders"])
contacts = APIRouter(prefix="/api/contacts", tags=["personal data"])


@router.get("", response_model=ReminderPage)
async def list_reminders(
    service: ReminderServiceDep,
    runtime: RuntimeDep,
    staff: CurrentStaff,
    staff_id: PlainText | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ReminderPage:
    """A staff member's open reminders (default: yours), soonest first; those of the
    procedures and follow-ups the caller has just written included."""
    await wait_for_copy(runtime, [Topic.PROCEDURES.value, Topic.INTERACTIONS.value])
    return await service.page(staff_id or staff.staff_id, cursor=cursor, limit=limit)


@router.get("/rules", response_model=ReminderRules)
async def get_rules(service: ReminderServiceDep, _: CurrentStaff) -> ReminderRules:
    return ReminderRules.of(await service.rules())


@router.put("/rules", response_model=ReminderRules)
async def put_rules(
    data: ReminderRules, service: ReminderServiceDep, _: AdminStaff
) -> ReminderRules:
    return ReminderRules.of(await service.set_rules(data))


@router.delete("/{reminder_id}", status_code=204)
async def dismiss_reminder(
    reminder_id: str, service: ReminderServiceDep, staff: CurrentStaff
) -> Response:
    """Dismiss one of your reminders (admins: anyone's); emits ReminderCleared."""
    await service.dismiss(reminder_id, staff.staff_id, staff.is_admin)
    return Response(status_code=204)


@contacts.get("/{contact_id}/personal-data/reminders", response_model=RemindersPersonalData)
async def personal_data(
    contact_id: str, service: ReminderServiceDep, runtime: RuntimeDep, _: AdminStaff
) -> RemindersPersonalData:
    """What this service holds about the contact (admin), the reminders of the
    procedures and follow-ups the caller has just written included: the reminders
    service's part of the gateway's ``GET /api/contacts/{id}/personal-data``."""
    topics = [Topic.PROCEDURES.value, Topic.INTERACTIONS.value, Topic.CONTACTS.value]
    await wait_for_copy(runtime, topics, keys=[contact_id])
    return await service.personal_data(contact_id)
