"""HTTP routes of the notifier: the signed-in staff member's notifications.

The live stream (``GET /api/notifications/stream``) is served by the gateway from Redis.
"""

from __future__ import annotations

from fastapi import APIRouter

from crm_notifier.deps import PUSH_GROUP, PUSH_TOPICS, NotificationServiceDep
from crm_notifier.schemas import (
    NotificationPage,
    NotificationPublic,
    NotifierPersonalData,
    ReadAll,
)
from crm_shared.auth import AdminStaff, CurrentStaff
from crm_shared.copies import wait_for_copy
from crm_shared.events import Topic
from crm_shared.paging import Cursor, Limit
from crm_shared.service import RuntimeDep

router = APIRouter(prefix="/api/notifications", tags=["notifications"])
contacts = APIRouter(prefix="/api/contacts", tags=["personal data"])


@router.get("", response_model=NotificationPage)
async def list_notifications(
    notifications: NotificationServiceDep,
    runtime: RuntimeDep,
    staff: CurrentStaff,
    unread: bool = False,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> NotificationPage:
    """Your notifications, newest first (``?unread=true``: only unread ones); those
    caused by what the caller has just done included."""
    await wait_for_copy(runtime, PUSH_TOPICS, group=PUSH_GROUP)
    return await notifications.page(staff.staff_id, unread_only=unread, cursor=cursor, limit=limit)


@router.post("/read-all", response_model=ReadAll)
async def read_all(notifications: NotificationServiceDep, staff: CurrentStaff) -> ReadAll:
    """Mark all your notifications as read."""
    return ReadAll(updated=await notifications.mark_all_read(staff.staff_id))


@router.post("/{notification_id}/read", response_model=NotificationPublic)
async def read_one(
    notification_id: str, notifications: NotificationServiceDep, staff: CurrentStaff
) -> NotificationPublic:
    """Mark one of your notifications as read."""
    return NotificationPublic.of(await notifications.mark_read(staff.staff_id, notification_id))


@contacts.get("/{contact_id}/personal-data/notifier", response_model=NotifierPersonalData)
async def personal_data(
    contact_id: str,
    notifications: NotificationServiceDep,
    runtime: RuntimeDep,
    _: AdminStaff,
) -> NotifierPersonalData:
    """What the notifier holds about the contact (admin): the mails sent to it and the
    notifications naming it, those caused by what the caller has just done included;
    the notifier's part of the gateway's ``GET /api/contacts/{id}/personal-data``."""
    topics = [*PUSH_TOPICS, Topic.NOTIFICATIONS.value]
    await wait_for_copy(runtime, topics, keys=[contact_id], group=PUSH_GROUP)
    return await notifications.personal_data(contact_id)
