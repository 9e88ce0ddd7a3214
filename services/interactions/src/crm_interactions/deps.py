"""The interactions service's dependencies, typed: the runtime and the loop that sends
portal login links whose contact arrived after they were asked for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from crm_interactions.portal import serve_pending_links
from crm_interactions.settings import Settings
from crm_shared.service import Runtime, ServiceDeps, deps_dependency


@dataclass
class InteractionsDeps(ServiceDeps[Settings]):
    @classmethod
    def build(cls, runtime: Runtime[Settings]) -> InteractionsDeps:
        return cls(runtime)

    async def start(self) -> None:
        self.background.spawn(
            serve_pending_links(self.runtime, every=self.settings.portal_pending_poll_seconds),
            name="pending-login-links",
        )


Deps = Annotated[InteractionsDeps, Depends(deps_dependency(InteractionsDeps))]
