"""Bulk entries and mailings as the job runner runs them, on SQLite without servers: who
is skipped, what a mailing's templates may say, and that a resumed job writes nothing
twice."""

from __future__ import annotations

import pytest
from history_support import STAFF, History, batch, given, run, target

from crm_dev.rules import emitted
from crm_history.repository import HistoryRepository
from crm_history.schemas import BulkEntryRequest, EntryFields, MailingRequest
from crm_history.service import HistoryService, job_entry_id
from crm_shared.errors import Unprocessable
from crm_shared.events import derived_event_id


async def test_a_bulk_entry_skips_limited_and_since_deleted_contacts(history: History) -> None:
    ok, inbox, archived, gone, also_ok = (
        target(),
        target("inbox"),
        target("archived"),
        target(),
        target("customer"),
    )
    selection = await given(history, ok, inbox, archived, gone, also_ok)
    request = BulkEntryRequest(selection=selection, entry=EntryFields(text="Katalog"))
    async with history.service() as service:
        job = await service.start_bulk_entry(request, STAFF, "Bearer x")
    async with history.service() as service:
        await service.erase_contact(gone.id)  # deleted after the job started

    await run(history, job.id)

    async with history.service() as service:
        done = await service.get_job(job.id)
        pages = {t.id: await service.entries(t.id, offset=0, limit=5) for t in (ok, also_ok)}
    assert (done.state, done.total, done.done, done.skipped) == ("done", 5, 5, 3)
    assert {contact: page.total for contact, page in pages.items()} == {ok.id: 1, also_ok.id: 1}
    assert pages[ok.id].items[0].id == job_entry_id(job.id, ok.id)
    assert pages[ok.id].items[0].job_id == job.id
    created = await emitted(history.db, "HistoryEntryCreated")
    assert sorted(e.subject for e in created) == sorted([ok.id, also_ok.id])


async def test_a_resumed_job_writes_nothing_twice(history: History) -> None:
    """A batch that fails rolls back with its cursor; the job is taken up again (as after
    a crash) and each contact gets one entry, one event, one mail, with ids derived from
    the job and the contact."""
    targets = [target() for _ in range(250)]
    selection = await given(history, *targets)
    request = MailingRequest(selection=selection, subject="Hallo {{ name }}", body="Text")
    async with history.service() as service:
        job = await service.start_mailing(request, STAFF, "Bearer x")

    async with history.db.sessionmaker() as session:
        plan = await history.deps.service(session).job_plan(job.id)
    assert plan is not None
    assert await batch(history, plan, 100) is False  # the first 100
    with pytest.raises(RuntimeError):
        async with history.service() as service:
            await service.write_job_batch(plan, 100)  # the next 100 …
            raise RuntimeError("crash")  # … rolled back
    await run(history, job.id, 100)  # taken up again from the job's cursor

    async with history.service() as service:
        done = await service.get_job(job.id)
    assert (done.state, done.done, done.skipped) == ("done", 250, 0)
    created = await emitted(history.db, "HistoryEntryCreated")
    mails = await emitted(history.db, "EmailRequested")
    assert len(created) == len(mails) == 250
    assert {e.id for e in created} == {
        derived_event_id("history", "created", job_entry_id(job.id, t.id)) for t in targets
    }
    assert {e.id for e in mails} == {
        derived_event_id("history", "mailing", job.id, t.id) for t in targets
    }
    first = next(m for m in mails if m.subject == targets[0].id)
    assert first.data["subject"] == f"Hallo {targets[0].name}"  # type: ignore[index]
    assert first.data["reply_to"] == STAFF.email  # type: ignore[index]


async def test_a_mailing_skips_contacts_without_an_address(history: History) -> None:
    with_mail, without = target(), target(email=None)
    selection = await given(history, with_mail, without)
    request = MailingRequest(selection=selection, subject="Angebot", body="Für {{ name }}")
    async with history.service() as service:
        job = await service.start_mailing(request, STAFF, "Bearer x")
    await run(history, job.id)
    async with history.service() as service:
        done = await service.get_job(job.id)
        entry = (await service.entries(with_mail.id, offset=0, limit=5)).items[0]
    assert (done.state, done.total, done.skipped) == ("done", 2, 1)
    assert entry.text == "Mailing: Angebot"  # the default entry text
    (mail,) = await emitted(history.db, "EmailRequested")
    assert mail.data["recipient"] == with_mail.email  # type: ignore[index]


@pytest.mark.parametrize(
    ("subject", "body", "field"),
    [
        ("Hallo {{ vorname }}", "Text", "subject"),
        ("Hallo", "{{ name.__class__.__mro__ }}", "body"),
        ("Hallo", "{% for %}", "body"),
    ],
)
async def test_a_mailing_with_a_bad_template_is_refused_before_any_job(
    history: History, subject: str, body: str, field: str
) -> None:
    selection = await given(history, target())
    request = MailingRequest(selection=selection, subject=subject, body=body)
    with pytest.raises(Unprocessable) as refused:
        async with history.service() as service:
            await service.start_mailing(request, STAFF, "Bearer x")
    assert refused.value.status == 422
    assert refused.value.errors is not None
    assert refused.value.errors[0]["field"] == field
    async with history.db.sessionmaker() as session:
        assert await HistoryService(session, history.deps.runtime.outbox).running_job_ids() == []


async def test_an_empty_selection_is_a_job_done_at_once(history: History) -> None:
    selection = await given(history)
    request = BulkEntryRequest(selection=selection, entry=EntryFields(text="x"))
    async with history.service() as service:
        job = await service.start_bulk_entry(request, STAFF, "Bearer x")
    assert (job.state, job.total) == ("done", 0)


async def test_a_finished_job_keeps_no_names_or_addresses(history: History) -> None:
    """The selection (each contact's name and address as of the job's start) is kept
    while the job runs, then dropped: it must not outlive a contact's permanent delete
    (issue 19)."""
    one, two = target(), target()
    selection = await given(history, one, two)
    request = MailingRequest(selection=selection, subject="Hallo {{ name }}", body="…")
    async with history.service() as service:
        job = await service.start_mailing(request, STAFF, "Bearer x")
    async with history.db.sessionmaker() as session:
        assert await HistoryRepository(session).selection(job.id) is not None
    await run(history, job.id)
    async with history.db.sessionmaker() as session:
        assert await HistoryRepository(session).selection(job.id) is None
