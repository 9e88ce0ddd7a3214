"""The contacts service's status rules on SQLite, without servers (the fast lane)."""

from __future__ import annotations

import pytest

from crm_contacts.main import MIGRATIONS
from crm_contacts.schemas import ContactCreate
from crm_contacts.service import ContactService
from crm_dev.rules import emitted
from crm_dev.testing import RulesDb
from crm_shared.errors import Problem
from crm_shared.outbox import Outbox


async def test_a_customer_needs_the_confirmation_on_create_too(rules_db: RulesDb) -> None:
    db = await rules_db(MIGRATIONS)
    outbox = Outbox("/crm/contacts")
    with pytest.raises(Problem) as refused:
        async with db.unit_of_work() as session:
            await ContactService(session, outbox).create(
                ContactCreate(kind="person", name="Anna Ohne", status="customer")
            )
    assert refused.value.status == 409
    async with db.unit_of_work() as session:
        contact = await ContactService(session, outbox).create(
            ContactCreate(kind="person", name="Anna Mit", status="customer", confirm=True)
        )
    (created,) = await emitted(db, "ContactCreated")
    assert created.subject == contact.id
    assert created.data["status"] == "customer"  # type: ignore[index]
