"""The gateway: login and staff, one front door for the API, the dev mailbox."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError

from crm_gateway.api import dev_router, router
from crm_gateway.consistency import CallerTokens, caller_of_authorization
from crm_gateway.cookies import without_cookies
from crm_gateway.proxy import router as proxy_router
from crm_gateway.sessions import SessionStore
from crm_gateway.settings import Settings
from crm_gateway.staff import StaffService
from crm_gateway.stream import NotificationHub
from crm_gateway.stream import router as stream_router
from crm_gateway.ui import install_ui, start_ui
from crm_shared import tracing
from crm_shared.consistency import Scope, Token
from crm_shared.service import Runtime, create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    async def start(runtime: Runtime) -> None:
        try:
            async with runtime.database.unit_of_work() as session:
                await StaffService(session, runtime.outbox).ensure_admin(settings)
        except IntegrityError:  # a replica starting at the same time created it first
            log.info("the first admin was created by another replica")
        # Idle connections are dropped before the services' uvicorn closes them (after
        # 5 s): a request sent on a connection the server is closing fails as a 503.
        client = httpx.AsyncClient(
            timeout=settings.proxy_timeout_seconds,
            cookies=without_cookies(),
            limits=httpx.Limits(keepalive_expiry=2.0),
        )
        tracing.instrument_client(client)  # traceparent on to the services
        runtime.state["http"] = client
        runtime.state["tokens"] = CallerTokens(
            runtime.redis_client, ttl_seconds=settings.consistency_ttl_seconds
        )

        def service_ready(url: str):  # type: ignore[no-untyped-def]
            async def check() -> None:
                response = await client.get(f"{url}/readyz", timeout=5)
                response.raise_for_status()

            return check

        for name, url in settings.service_urls().items():
            runtime.checks[name] = service_ready(url)
        hub = NotificationHub(runtime.redis_client)
        await hub.start()
        runtime.state["hub"] = hub
        sessions = SessionStore(runtime.redis_client)
        app.state.sessions = sessions
        runtime.state["ui"] = start_ui(
            app,
            sessions,
            token_ttl_seconds=settings.token_ttl_minutes * 60,
            secure_cookies=settings.public_address.startswith("https://"),
        )

    async def stop(runtime: Runtime) -> None:
        await runtime.state["ui"].client.aclose()
        await runtime.state["hub"].stop()
        await runtime.state["http"].aclose()

    async def remember_own_writes(scope: Scope, token: Token) -> None:
        """The gateway's own writes (staff, competences) count for the caller too."""
        headers = dict(scope.get("headers", []))
        authorization = headers.get(b"authorization", b"").decode()
        caller = caller_of_authorization(authorization, settings.jwt_secret)
        await scope["app"].state.runtime.state["tokens"].record(caller, token)

    app = create_service_app(
        settings,
        title="CRM gateway",
        on_written=remember_own_writes,
        # the stream route is matched before the proxy's catch-all /api/{rest:path}
        routers=[router, dev_router, stream_router, proxy_router],
        migrations_dir=MIGRATIONS,
        on_start=[start],
        on_stop=[stop],
        uses_redis=True,
    )
    install_ui(app)
    return app
