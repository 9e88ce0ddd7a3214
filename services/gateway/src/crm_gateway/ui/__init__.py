"""The staff UI (``/ui/``) and the customer portal (``/portal/``): server-rendered pages
on the gateway's own API (see ``client.py``), German and English (``i18n.py``)."""

from __future__ import annotations

from fastapi import FastAPI

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
from crm_gateway.ui.compression import PageCompression
from crm_gateway.ui.context import install_page_errors
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
    app.mount(PREFIX, static_files(), name="ui-static")
    install_page_errors(app)
    for router in ROUTERS:
        app.include_router(router)
