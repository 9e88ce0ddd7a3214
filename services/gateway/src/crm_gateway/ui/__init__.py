"""The staff UI (``/ui/``) and the customer portal (``/portal/``): server-rendered pages
on the gateway's own API (see ``client.py``), German and English (``i18n.py``)."""

from __future__ import annotations

from fastapi import FastAPI

from crm_gateway.sessions import SessionStore
from crm_gateway.ui import (
    auth,
    bulk_history,
    campaigns,
    contact,
    contacts,
    dashboard,
    importing,
    notifications,
    opportunities,
    portal,
    reminders,
    settings,
)
from crm_gateway.ui.client import in_process_client
from crm_gateway.ui.compression import PageCompression
from crm_gateway.ui.context import Ui, install_page_errors
from crm_gateway.ui.security import SecurityHeaders
from crm_gateway.ui.static import PREFIX, static_files

ROUTERS = [
    auth.router,
    importing.router,  # /ui/contacts/import before /ui/contacts/{contact_id}
    bulk_history.router,
    contacts.router,
    contact.router,
    notifications.router,
    portal.router,
    reminders.router,
    campaigns.router,
    dashboard.router,
    opportunities.router,
    settings.router,
]


def install_ui(app: FastAPI) -> None:
    """Add the pages, their static files, headers and error pages to the gateway app."""
    app.add_middleware(PageCompression)
    app.add_middleware(SecurityHeaders)
    app.mount(PREFIX, static_files(), name="ui-static")
    install_page_errors(app)
    for router in ROUTERS:
        app.include_router(router)


def start_ui(
    app: FastAPI, sessions: SessionStore, *, token_ttl_seconds: int, secure_cookies: bool
) -> Ui:
    ui = Ui(
        client=in_process_client(app),
        sessions=sessions,
        token_ttl_seconds=token_ttl_seconds,
        secure_cookies=secure_cookies,
    )
    app.state.ui = ui
    return ui
