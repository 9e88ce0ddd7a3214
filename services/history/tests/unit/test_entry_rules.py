"""The history service's rules for settings and entries, on SQLite without servers."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from history_support import STAFF, History

from crm_dev.rules import emitted
from crm_history.schemas import (
    BulkEntryRequest,
    EntryCreate,
    EntryFields,
    EntryUpdate,
    FieldLabels,
    HistorySettingsBody,
    MailingRequest,
    Selection,
)
from crm_shared.contact_status import ContactRestricted
from crm_shared.errors import NotFound, Unprocessable

PICK_LISTS = HistorySettingsBody(actions=["Rückruf", "Mailing"], infos=["Infoabend"])


async def test_action_and_info_must_come_from_the_admin_pick_lists(history: History) -> None:
    contact = str(uuid.uuid4())
    await history.contact(contact)
    async with history.service() as service:
        await service.put_settings(PICK_LISTS)
    for bad, field in (({"action": "Besuch"}, "action"), ({"info": "Rabatt"}, "info")):
        with pytest.raises(Unprocessable) as refused:
            async with history.service() as service:
                await service.create_entry(contact, EntryCreate(**bad), STAFF)
        assert refused.value.errors is not None
        assert refused.value.errors[0]["field"] == field
        assert "pick list" in refused.value.errors[0]["message"]
    async with history.service() as service:
        entry = await service.create_entry(
            contact, EntryCreate(action="Rückruf", info="Infoabend"), STAFF
        )
        # a change is checked against the lists too
        with pytest.raises(Unprocessable):
            await service.update_entry(entry.id, EntryUpdate(action="Besuch"))
    (created,) = await emitted(history.db, "HistoryEntryCreated")
    assert created.data["action"] == "Rückruf"  # type: ignore[index]


async def test_bulk_entries_and_mailings_check_the_pick_lists_before_resolving(
    history: History,
) -> None:
    """The selection is not resolved (the contacts service not asked) for a bad entry."""
    async with history.service() as service:
        await service.put_settings(PICK_LISTS)
    selection = Selection(contact_ids=[str(uuid.uuid4())])
    requests = [
        BulkEntryRequest(selection=selection, entry=EntryFields(action="Besuch")),
        MailingRequest(selection=selection, subject="S", body="B", entry=EntryFields(info="x")),
    ]
    for request, field in zip(requests, ("entry.action", "entry.info"), strict=True):
        with pytest.raises(Unprocessable) as refused:
            async with history.service() as service:
                if isinstance(request, BulkEntryRequest):
                    await service.start_bulk_entry(request, STAFF, "Bearer x")
                else:
                    await service.start_mailing(request, STAFF, "Bearer x")
        assert refused.value.errors is not None
        assert refused.value.errors[0]["field"] == field


async def test_field_labels_default_and_as_the_admin_set_them(history: History) -> None:
    async with history.service() as service:
        labels = (await service.get_settings()).field_labels
    assert (labels.field1, labels.field6) == ("Feld 1", "Feld 6")
    async with history.service() as service:
        await service.put_settings(
            HistorySettingsBody(field_labels=FieldLabels(field1="Prospekt", field5="Teilnahme"))
        )
    async with history.service() as service:
        stored = await service.get_settings()
    assert (stored.field_labels.field1, stored.field_labels.field5) == ("Prospekt", "Teilnahme")
    assert stored.field_labels.field2 == "Feld 2"


async def test_entries_page_newest_first_by_date_then_creation_with_the_total(
    history: History,
) -> None:
    contact = str(uuid.uuid4())
    await history.contact(contact)
    days = [dt.date(2026, 3, 2), dt.date(2026, 3, 5), dt.date(2026, 3, 2), dt.date(2026, 3, 1)]
    for number, day in enumerate(days):
        async with history.service() as service:
            await service.create_entry(contact, EntryCreate(date=day, text=f"#{number}"), STAFF)
    async with history.service() as service:
        page = await service.entries(contact, offset=0, limit=50)
        ones = [await service.entries(contact, offset=n, limit=1) for n in range(4)]
    assert [e.text for e in page.items] == ["#1", "#2", "#0", "#3"]
    assert page.total == 4
    assert [p.items[0].text for p in ones] == ["#1", "#2", "#0", "#3"]  # "1 von 4", …
    assert {p.total for p in ones} == {4}
    assert page.items[0].staff_initials == "EM"  # the caller's by default
    assert page.items[0].created_by is not None
    assert page.items[0].created_by.name == "Erika Muster"


@pytest.mark.parametrize("status", ["inbox", "archived"])
async def test_a_limited_contact_gets_no_entry_naming_its_status(
    history: History, status: str
) -> None:
    contact = str(uuid.uuid4())
    await history.contact(contact, status=status)
    with pytest.raises(ContactRestricted) as refused:
        async with history.service() as service:
            await service.create_entry(contact, EntryCreate(text="x"), STAFF)
    assert refused.value.status == 409
    assert refused.value.extra["contact_status"] == status
    assert await emitted(history.db, "HistoryEntryCreated") == []


async def test_an_unknown_or_deleted_contact_is_not_found(history: History) -> None:
    gone = str(uuid.uuid4())
    await history.contact(gone)
    async with history.service() as service:
        await service.erase_contact(gone)
    for contact in (str(uuid.uuid4()), gone):
        with pytest.raises(NotFound):
            async with history.service() as service:
                await service.create_entry(contact, EntryCreate(text="x"), STAFF)
    with pytest.raises(NotFound):
        async with history.service() as service:
            await service.entries(gone, offset=0, limit=50)
