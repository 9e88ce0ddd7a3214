"""API models of the notifier."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


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


class NotificationPage(BaseModel):
    items: list[NotificationPublic]
    next_cursor: str | None = None
    unread: int


class ReadAll(BaseModel):
    updated: int
