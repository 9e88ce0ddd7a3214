"""The notifier's dependencies, typed: the runtime and the mailer (routes, consumers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from crm_notifier.mailer import Mailer
from crm_notifier.push import PushService
from crm_notifier.settings import Settings
from crm_shared.service import Runtime, ServiceDeps, SessionDep, deps_dependency


@dataclass
class NotifierDeps(ServiceDeps[Settings]):
    mailer: Mailer

    @classmethod
    def build(cls, runtime: Runtime[Settings]) -> NotifierDeps:
        """Nothing connects yet: the mailer opens SMTP connections when it first sends."""
        return cls(runtime, Mailer(runtime.settings, runtime.redis_client, runtime.producer))

    async def stop(self) -> None:
        await self.mailer.close()
        await super().stop()


Deps = Annotated[NotifierDeps, Depends(deps_dependency(NotifierDeps))]


async def push_service(session: SessionDep, deps: Deps) -> PushService:
    return PushService(session, deps.runtime.outbox, deps.runtime.redis_client)


PushServiceDep = Annotated[PushService, Depends(push_service)]
