"""The gateway: login and staff, one front door for the API, the dev mailbox (only with
``CRM_ENV=dev``), the pages; the limits and headers around all of them."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from crm_gateway.api import router
from crm_gateway.consistency import caller_of_authorization
from crm_gateway.deps import GatewayDeps, deps_of
from crm_gateway.dev_mail import dev_router
from crm_gateway.headers import SecurityHeaders
from crm_gateway.limits import BodyLimits, ClientAddress, staff_signed_in
from crm_gateway.openapi import install_api_document
from crm_gateway.openapi import router as api_document_router
from crm_gateway.proxy import router as proxy_router
from crm_gateway.settings import Settings
from crm_gateway.stream import router as stream_router
from crm_gateway.ui import install_ui
from crm_shared.consistency import Scope, Token
from crm_shared.service import Runtime, create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    def build_deps(runtime: Runtime[Settings]) -> GatewayDeps:
        return GatewayDeps.build(runtime, app)  # the pages call this very app

    async def remember_own_writes(scope: Scope, token: Token) -> None:
        """The gateway's own writes (staff, competences) count for the caller too."""
        headers = dict(scope.get("headers", []))
        authorization = headers.get(b"authorization", b"").decode()
        caller = caller_of_authorization(authorization, settings.jwt_secret)
        await deps_of(scope["app"]).tokens.record(caller, token)

    async def has_staff_session(session_id: str) -> bool:
        return await deps_of(app).sessions.get(session_id) is not None

    # /dev/mail shows every mail sent, login links too: it exists only in dev
    dev_routers = [dev_router] if settings.env == "dev" else []
    app = create_service_app(
        settings,
        title="CRM gateway",
        on_written=remember_own_writes,
        # the stream and document routes are matched before the proxy's /api/{rest:path}
        routers=[router, *dev_routers, stream_router, api_document_router, proxy_router],
        migrations_dir=MIGRATIONS,
        uses_redis=True,
        deps=build_deps,
    )
    install_api_document(app)
    install_ui(app)
    # added last, so outermost: every answer gets the headers, even a 413
    app.add_middleware(
        BodyLimits,
        max_public=settings.max_public_body_bytes,
        max_body=settings.max_body_bytes,
        max_import=settings.max_import_bytes,
        signed_in=staff_signed_in(settings.jwt_secret, has_staff_session),
    )
    app.add_middleware(ClientAddress, header=settings.client_address_header)
    app.add_middleware(SecurityHeaders)
    return app
