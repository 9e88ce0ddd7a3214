"""A contact's personal data in the interactions service on SQLite without servers: what
the export shows, and that a permanent delete leaves no trace of the person (issue 19)."""

from __future__ import annotations

import json

import sqlalchemy as sa
from interactions_support import Interactions, staff_claims

from crm_interactions.interactions.schemas import InteractionCreate
from crm_interactions.models import (
    ContactCopy,
    Interaction,
    PortalLinkRequest,
    PortalSession,
    PortalToken,
    Procedure,
)
from crm_interactions.personal_data.service import PersonalDataService
from crm_interactions.procedures.schemas import ProcedureCreate
from crm_shared.db import table_of

ERIKA = staff_claims()
EMAIL = "zora.zettel@example.com"


async def test_the_export_shows_interactions_procedures_and_portal_sessions(
    ix: Interactions,
) -> None:
    await ix.given(ContactCopy(contact_id="z", name="Zora", email=EMAIL, status="customer"))
    async with ix.interactions() as service:
        await service.log(
            InteractionCreate(contact_id="z", topic="Angebot", kind="outgoing", text="…"), ERIKA
        )
    async with ix.procedures() as service:
        await service.plan(
            ProcedureCreate.model_validate(
                {
                    "contact_id": "z",
                    "type": "call",
                    "direction": "outgoing",
                    "state": "planned",
                    "starts_at": "2030-01-02T10:00:00+00:00",
                    "duration_minutes": 0,
                    "reminder": False,
                    "subject": "Nachfassen",
                }
            ),
            ERIKA,
        )
    async with ix.portal() as service:
        await service.request_login_link(EMAIL)
    async with ix.db.unit_of_work() as session:
        data = await PersonalDataService(session, ix.deps.copy_service(session)).of_contact("z")
    assert [i.topic for i in data.interactions] == ["Angebot"]
    assert [p.subject for p in data.procedures] == ["Nachfassen"]
    assert data.portal_sessions == []  # a link asked for, no session opened yet


async def test_a_delete_forgets_a_login_link_waiting_for_the_address(ix: Interactions) -> None:
    """A link asked for before the contact's copy arrived, the contact deleted before the
    link went out: the waiting address goes with the contact."""
    async with ix.portal() as service:
        assert await service.request_login_link(EMAIL.upper()) is None  # on its way
    await ix.given(ContactCopy(contact_id="z", name="Zora", email=EMAIL, status="customer"))
    async with ix.copies() as copies:
        await copies.erase_contact("z")
    async with ix.db.sessionmaker() as session:
        for model in (PortalLinkRequest, PortalToken, PortalSession, Interaction, Procedure):
            rows = (await session.execute(sa.select(table_of(model)))).all()
            assert rows == [], model.__name__
        (copy,) = (await session.execute(sa.select(table_of(ContactCopy)))).all()
    assert EMAIL not in json.dumps([str(v) for v in copy])
