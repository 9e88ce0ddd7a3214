"""Pausing and resuming a bulk job or a mailing (issue 17), on SQLite without servers:
which moves are allowed and for whom, that a paused job takes no batch (also when the
runner looks for work after a restart), and that a resumed one goes on from its cursor
and handles every contact once."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from history_support import STAFF, History, batch, given, run, target

from crm_dev.rules import emitted
from crm_history.models import Job
from crm_history.repository import HistoryRepository
from crm_history.schemas import BulkEntryRequest, EntryFields, MailingRequest
from crm_history.service import job_transition
from crm_shared.auth import StaffClaims
from crm_shared.errors import Conflict, NotFound, Problem

COLLEAGUE = StaffClaims(
    staff_id="00000000-0000-0000-0000-0000000000bb",
    username="max",
    name="Max Kollege",
    initials="MK",
    roles=["crm_user"],
)
ADMIN = StaffClaims(
    staff_id="00000000-0000-0000-0000-0000000000cc",
    username="admin",
    name="Ada Admin",
    initials="AA",
    roles=["admin"],
)


def job_in(state: str) -> Job:
    return Job(
        id=str(uuid.uuid4()), kind="bulk_entry", state=state, created_by=STAFF.ref().model_dump()
    )


@pytest.mark.parametrize(
    ("state", "action", "after"),
    [
        ("running", "pause", "paused"),
        ("paused", "resume", "running"),
        ("paused", "pause", None),
        ("done", "pause", None),
        ("failed", "pause", None),
        ("running", "resume", None),
        ("done", "resume", None),
        ("failed", "resume", None),
    ],
)
def test_only_a_running_job_pauses_and_only_a_paused_one_resumes(
    state: str, action: str, after: str | None
) -> None:
    job = job_in(state)
    if after is None:
        with pytest.raises(Conflict) as refused:
            job_transition(job, action, STAFF)  # type: ignore[arg-type]
        assert refused.value.status == 409
        assert refused.value.extra == {"state": state}
    else:
        assert job_transition(job, action, STAFF) == (state, after)  # type: ignore[arg-type]


def test_only_its_starter_or_an_admin_steers_a_job() -> None:
    job = job_in("running")
    with pytest.raises(Problem) as refused:
        job_transition(job, "pause", COLLEAGUE)
    assert refused.value.status == 403
    assert job_transition(job, "pause", ADMIN) == ("running", "paused")
    # who may comes before what the state allows: a stranger learns nothing of it
    with pytest.raises(Problem) as refused:
        job_transition(job_in("done"), "pause", COLLEAGUE)
    assert refused.value.status == 403


async def test_a_paused_mailing_takes_no_batch_until_resumed_then_mails_each_once(
    history: History,
) -> None:
    targets = [target() for _ in range(250)]
    selection = await given(history, *targets)
    request = MailingRequest(selection=selection, subject="Hallo {{ name }}", body="Text")
    async with history.service() as service:
        job = await service.start_mailing(request, STAFF, "Bearer x")
    async with history.db.sessionmaker() as session:
        plan = await history.deps.service(session).job_plan(job.id)
    assert plan is not None
    assert await batch(history, plan, 100) is False  # the first 100

    async with history.service() as service:
        paused = await service.pause_job(job.id, STAFF)
    assert (paused.state, paused.done) == ("paused", 100)

    # the runner holding the plan stops at its next batch, writing nothing
    assert await batch(history, plan, 100) is True
    async with history.db.sessionmaker() as session:
        service = history.deps.service(session)
        assert (await service.get_job(job.id)).done == 100
        assert await service.running_job_ids() == []  # a (re)started runner leaves it
        assert await service.job_plan(job.id) is None
        assert await HistoryRepository(session).selection(job.id) is not None  # kept
    assert len(await emitted(history.db, "EmailRequested")) == 100

    async with history.service() as service:
        resumed = await service.resume_job(job.id, ADMIN)  # an admin may too
    assert (resumed.state, resumed.done) == ("running", 100)
    await run(history, job.id, 100)

    async with history.service() as service:
        done = await service.get_job(job.id)
    assert (done.state, done.done, done.skipped) == ("done", 250, 0)
    mails = Counter(m.subject for m in await emitted(history.db, "EmailRequested"))
    entries = Counter(e.subject for e in await emitted(history.db, "HistoryEntryCreated"))
    assert mails == entries == Counter({t.id: 1 for t in targets})


async def test_steering_a_job_refuses_strangers_unknown_ids_and_wrong_states(
    history: History,
) -> None:
    selection = await given(history, target())
    async with history.service() as service:
        job = await service.start_mailing(
            MailingRequest(selection=selection, subject="Hallo", body="Text"), STAFF, "Bearer x"
        )
    with pytest.raises(NotFound):
        async with history.service() as service:
            await service.pause_job(str(uuid.uuid4()), STAFF)
    with pytest.raises(Problem) as refused:
        async with history.service() as service:
            await service.pause_job(job.id, COLLEAGUE)
    assert refused.value.status == 403
    with pytest.raises(Conflict):
        async with history.service() as service:
            await service.resume_job(job.id, STAFF)  # running, not paused
    await run(history, job.id)
    with pytest.raises(Conflict) as refused:
        async with history.service() as service:
            await service.pause_job(job.id, STAFF)
    assert refused.value.extra == {"state": "done"}
    async with history.service() as service:
        assert (await service.get_job(job.id)).state == "done"


async def test_a_pause_never_overwrites_what_a_batch_committed_meanwhile(
    history: History,
) -> None:
    """The move is a compare-and-set: a job the last batch finished between the pause's
    read and its write stays done (the request then gets a 409)."""
    selection = await given(history, target())
    request = BulkEntryRequest(selection=selection, entry=EntryFields(text="Katalog"))
    async with history.service() as service:
        job = await service.start_bulk_entry(request, STAFF, "Bearer x")
    await run(history, job.id)
    async with history.db.unit_of_work() as session:
        assert await HistoryRepository(session).move_job(job.id, "running", "paused") is False
    async with history.service() as service:
        assert (await service.get_job(job.id)).state == "done"
