"""API models of the notifier, and the mapper from a stored notification to its public
form (:meth:`NotificationPublic.of`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel

if TYPE_CHECKING:
    from crm_notifier.models import Notification


class NotificationPublic(BaseModel):
    id: str
    staff_id: str
    kind: str
    title: str
    body: str | None = None
    contact_id: str | None = None
    link: str | None = None
    created_at: datetime
    read_at: datetime | None = None

    @classmethod
    def of(cls, row: Notification) -> NotificationPublic:
        return cls.model_validate(row.model_dump())


class NotificationPage(BaseModel):
    items: list[NotificationPublic]
    next_cursor: str | None = None
    unread: int


class ReadAll(BaseModel):
    updated: int
