"""API models of the notifier, and the mapper from a stored notification to its public
form (:meth:`NotificationPublic.of`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel

if TYPE_CHECKING:
    from crm_notifier.models import Notification, SentEmail


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


class SentEmailPublic(BaseModel):
    """A mail the notifier sent to or about a contact (``status`` sent), or gave up on
    (``failed``, with the ``error``)."""

    message_id: str
    template: str
    recipient: str
    status: str
    error: str | None = None
    at: datetime

    @classmethod
    def of(cls, row: SentEmail) -> SentEmailPublic:
        return cls.model_validate(row.model_dump())


class NotifierPersonalData(BaseModel):
    """What the notifier holds about a contact (its part of ``GET
    /api/contacts/{id}/personal-data``): the mails sent to it (interactions, mailings,
    portal login links), newest first, and the staff notifications that name it. The
    mail bodies are not kept: the interactions and history entries they came from are
    in the other services' parts."""

    emails: list[SentEmailPublic]
    notifications: list[NotificationPublic]
