"""HTTP routes of the notifier: the signed-in staff member's notifications.

The live stream (``GET /api/notifications/stream``) is served by the gateway from Redis.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from crm_notifier.deps import PushServiceDep
from crm_notifier.handlers import PUSH_GROUP
from crm_notifier.push import to_public
from crm_notifier.schemas import NotificationPage, NotificationPublic, ReadAll
from crm_shared.auth import CurrentStaff
from crm_shared.copies import wait_for_copy
from crm_shared.errors import NotFound, Unprocessable
from crm_shared.events import Topic
from crm_shared.service import RuntimeDep

router = APIRouter(prefix="/api/notifications", tags=["notifications"])
_PUSH_TOPICS = [t.value for t in (Topic.CONTACTS, Topic.INTERACTIONS, Topic.REMINDERS)]


def _cursor(value: str | None) -> tuple[datetime, str] | None:
    if not value:
        return None
    at, sep, nid = value.partition("|")
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        moment = None
    if not sep or not nid or moment is None or moment.tzinfo is None:
        raise Unprocessable("cursor", "invalid cursor")
    return moment, nid


@router.get("", response_model=NotificationPage)
async def list_notifications(
    push: PushServiceDep,
    runtime: RuntimeDep,
    staff: CurrentStaff,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> NotificationPage:
    """Your notifications, newest first (``?unread=true``: only unread ones); those
    caused by what the caller has just done included."""
    await wait_for_copy(runtime, _PUSH_TOPICS, group=PUSH_GROUP)
    rows = await push.page(
        staff.staff_id, before=_cursor(cursor), unread_only=unread, limit=limit + 1
    )
    items = [to_public(row) for row in rows[:limit]]
    last = items[-1] if len(rows) > limit else None
    return NotificationPage(
        items=items,
        next_cursor=f"{last.created_at.isoformat()}|{last.id}" if last else None,
        unread=await push.unread(staff.staff_id),
    )


@router.post("/read-all", response_model=ReadAll)
async def read_all(push: PushServiceDep, staff: CurrentStaff) -> ReadAll:
    """Mark all your notifications as read."""
    return ReadAll(updated=await push.mark_all_read(staff.staff_id))


@router.post("/{notification_id}/read", response_model=NotificationPublic)
async def read_one(
    notification_id: str, push: PushServiceDep, staff: CurrentStaff
) -> NotificationPublic:
    """Mark one of your notifications as read."""
    row = await push.mark_read(staff.staff_id, notification_id)
    if row is None:
        raise NotFound("notification", notification_id)
    return to_public(row)
