"""The notifier's dependencies, typed: the runtime, the mail side (rules, the SMTP
mailer) and the live channels of the notifications; the FastAPI aliases of the routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from crm_notifier.live import LiveChannels
from crm_notifier.mail import ErasedContacts, MailService
from crm_notifier.mailer import Mailer
from crm_notifier.service import NotificationService
from crm_notifier.settings import Settings
from crm_notifier.texts import Templates
from crm_shared.events import Topic
from crm_shared.service import Runtime, ServiceDeps, SessionDep, deps_dependency

MAIL_GROUP = "notifier"
"""Emails: deduplicated in Redis, each mail guarded by its send-once key, so a long SMTP
outage never holds a database transaction open."""
PUSH_GROUP = "notifier-push"
"""Notifications and the copies they need: deduplicated in the database, in the same
transaction as the stored notification."""
PUSH_TOPICS = [t.value for t in (Topic.CONTACTS, Topic.INTERACTIONS, Topic.REMINDERS)]
"""What the push group must have read for a caller's notifications to be complete."""


@dataclass
class NotifierDeps(ServiceDeps[Settings]):
    mailer: Mailer
    mail: MailService
    live: LiveChannels
    erased: ErasedContacts

    @classmethod
    def build(cls, runtime: Runtime[Settings]) -> NotifierDeps:
        """Nothing connects yet: the mailer opens SMTP connections when it first sends."""
        mailer = Mailer(runtime.settings, runtime.redis_client, runtime.producer)
        erased = ErasedContacts(runtime.redis_client)
        mail = MailService(mailer, erased, Templates())
        return cls(runtime, mailer, mail, LiveChannels(runtime.redis_client), erased)

    def notifications(self, session: AsyncSession) -> NotificationService:
        return NotificationService(session, self.runtime.outbox, self.live, self.erased)

    async def stop(self) -> None:
        await self.mailer.close()
        await super().stop()


Deps = Annotated[NotifierDeps, Depends(deps_dependency(NotifierDeps))]


async def notification_service(session: SessionDep, deps: Deps) -> NotificationService:
    return deps.notifications(session)


NotificationServiceDep = Annotated[NotificationService, Depends(notification_service)]
