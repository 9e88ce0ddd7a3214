"""The gateway's dependencies, typed: the runtime, the client to the services, the
callers' consistency tokens, the live notification hub, the browser sessions, the
limits' counters and what the pages share; the FastAPI aliases of the routes (``Deps``,
``StaffServiceDep``)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette

from crm_gateway.consistency import CallerTokens
from crm_gateway.limits import LoginLimits, LoginLinkLimit, RedisWindows
from crm_gateway.personal_data import PersonalDataService
from crm_gateway.service import StaffService
from crm_gateway.sessions import SessionStore
from crm_gateway.settings import Settings
from crm_gateway.stream import NotificationHub
from crm_gateway.ui.client import in_process_client
from crm_gateway.ui.context import Ui
from crm_gateway.upstream import Upstream
from crm_shared.service import Runtime, ServiceDeps, SessionDep

log = logging.getLogger(__name__)


@dataclass
class GatewayDeps(ServiceDeps[Settings]):
    upstream: Upstream
    """To the services (the API proxy and the pages' calls go through it)."""
    tokens: CallerTokens
    hub: NotificationHub
    sessions: SessionStore
    ui: Ui
    login_limits: LoginLimits
    """Failed logins per username and address (counters in Redis)."""
    login_link_limit: LoginLinkLimit
    """Portal login links per email address (counters in Redis)."""

    @classmethod
    def build(cls, runtime: Runtime[Settings], app: FastAPI) -> GatewayDeps:
        settings = runtime.settings
        sessions = SessionStore(runtime.redis_client)
        windows = RedisWindows(runtime.redis_client)
        return cls(
            runtime,
            upstream=Upstream(),
            tokens=CallerTokens(runtime.redis_client, ttl_seconds=settings.consistency_ttl_seconds),
            hub=NotificationHub(runtime.redis_client),
            sessions=sessions,
            ui=Ui(
                client=in_process_client(app),
                sessions=sessions,
                token_ttl_seconds=settings.token_ttl_minutes * 60,
                secure_cookies=settings.public_address.startswith("https://"),
            ),
            login_limits=LoginLimits.of(windows, settings),
            login_link_limit=LoginLinkLimit(
                windows,
                per_email=settings.login_links_per_email,
                window_seconds=settings.login_link_window_seconds,
            ),
        )

    def staff(self, session: AsyncSession) -> StaffService:
        return StaffService(session, self.runtime.outbox, self.settings, limits=self.login_limits)

    async def start(self) -> None:
        try:
            async with self.runtime.database.unit_of_work() as session:
                await self.staff(session).ensure_admin()
        except IntegrityError:  # a replica starting at the same time created it first
            log.info("the first admin was created by another replica")
        for name, url in self.settings.service_urls().items():
            self.runtime.checks[name] = self._ready(url)
        await self.hub.start()

    def _ready(self, url: str) -> Callable[[], Awaitable[None]]:
        async def check() -> None:
            await self.upstream.get_ok(f"{url}/readyz", seconds=5)

        return check

    async def stop(self) -> None:
        await self.ui.client.aclose()
        await self.hub.stop()
        await self.upstream.close()
        await super().stop()


def deps_of(app: Starlette) -> GatewayDeps:
    """The gateway's dependencies (of its app, once started)."""
    deps = app.state.deps
    if not isinstance(deps, GatewayDeps):
        raise TypeError(f"expected GatewayDeps, the app holds {type(deps).__name__}")
    return deps


def gateway_deps(request: Request) -> GatewayDeps:
    """The gateway's dependencies, for a request (also a FastAPI dependency)."""
    return deps_of(request.app)


Deps = Annotated[GatewayDeps, Depends(gateway_deps)]


async def staff_service(session: SessionDep, deps: Deps) -> StaffService:
    return deps.staff(session)


StaffServiceDep = Annotated[StaffService, Depends(staff_service)]


async def personal_data_service(deps: Deps) -> PersonalDataService:
    return PersonalDataService(deps)


PersonalDataServiceDep = Annotated[PersonalDataService, Depends(personal_data_service)]
