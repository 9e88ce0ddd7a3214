"""The contact's page: loading and answering (``page``), a module per section."""

from fastapi import APIRouter

from crm_gateway.ui.contact import (
    campaigns,
    head,
    history,
    interactions,
    master_data,
    page,
    procedures,
)

router = APIRouter(include_in_schema=False)
for part in (page, head, master_data, history, interactions, procedures, campaigns):
    router.include_router(part.router)
