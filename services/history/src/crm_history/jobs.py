"""Background jobs: bulk entries and mailings for a selection of contacts.

A job is created by the API with its selection resolved by the contacts service
(:mod:`crm_history.selections`) and kept with the job (``job_selection``: each contact's
status, name, email, language and number as of that moment) and ``done = 0``. The
runner works through the list in batches; each batch is one transaction that writes the
batch's entries, their outbox events and timeline items, **and** advances ``job.done``.
A crash therefore loses at most the batch in flight, which is rolled back and redone:
nothing is written twice. Entry and event ids are derived from (job, contact) as a
second guard. Contacts in the inbox or archived (seed 002), deleted since the job
started, or for a mailing without an address, are counted in ``skipped``. The job
keeps the positions its batches wrote (its consistency token): whoever sees it done
then reads copies that hold its entries.

Jobs left ``running`` by a crashed process are picked up when the service starts. On
PostgreSQL each batch locks the job row (``FOR UPDATE``), so several replicas working on
the same job take turns instead of writing the same batch twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from crm_history.models import Job
from crm_history.repository import DELETED
from crm_history.schemas import EntryFields
from crm_history.selections import Target, of_row
from crm_history.service import HistoryService
from crm_history.settings import Settings
from crm_shared.consistency import Token
from crm_shared.contact_status import is_restricted
from crm_shared.errors import Unprocessable
from crm_shared.events import EmailRequested, EventData, StaffRef, derived_event_id, utcnow
from crm_shared.service import Runtime

log = logging.getLogger(__name__)

# What a mailing template may use: {{ name }}, {{ customer_number }}, …
PLACEHOLDERS = ("name", "customer_number", "email", "language", "status", "contact_id")
_SAMPLE = {
    "name": "Erika Mustermann",
    "customer_number": "K-0001",
    "email": "erika@example.com",
    "language": "de",
    "status": "customer",
    "contact_id": "00000000-0000-0000-0000-000000000000",
}

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def compile_template(field: str, source: str) -> Any:
    """A sandboxed template; unknown placeholders and bad syntax are a 422 on ``field``."""
    try:
        template = _env.from_string(source)
        template.render(_SAMPLE)
    except UndefinedError as exc:
        allowed = ", ".join("{{ %s }}" % p for p in PLACEHOLDERS)  # noqa: UP031
        raise Unprocessable(field, f"unknown placeholder: {exc.message}; use {allowed}") from exc
    except SecurityError as exc:
        raise Unprocessable(field, f"not allowed in a template: {exc}") from exc
    except TemplateError as exc:
        raise Unprocessable(field, f"template error: {exc}") from exc
    return template


def template_context(contact: Target) -> dict[str, Any]:
    return {
        "name": contact.name,
        "customer_number": contact.customer_number or "",
        "email": contact.email or "",
        "language": contact.language,
        "status": contact.status,
        "contact_id": contact.id,
    }


@dataclass
class _Prepared:
    job: Job
    targets: list[Target]
    entry: EntryFields
    staff: StaffRef
    subject: Any = None
    body: Any = None
    token: Token = field(default_factory=Token)
    """What the job's batches wrote so far (since this process took the job up)."""


PROGRESS_STEPS = 10
"""A job moves its cursor at least this many times, so its page shows progress."""
MIN_BATCH = 100
"""Smaller batches would cost more in transactions than the finer progress is worth."""


def batch_size_for(total: int, largest: int) -> int:
    """Contacts per batch of a job of ``total``: a tenth of it, at least ``MIN_BATCH``, at
    most ``largest`` (``CRM_HISTORY_JOB_BATCH_SIZE``): a job of 1,000 goes in ten
    batches of 100 instead of one of 1,000, one of 10,000 or more in batches of 1,000."""
    return min(largest, max(MIN_BATCH, -(-total // PROGRESS_STEPS)))


class JobRunner:
    """Works through running jobs in the background of the service process."""

    def __init__(
        self, runtime: Runtime[Settings], *, batch_size: int = 1000, pause_seconds: float = 0.0
    ) -> None:
        self.runtime = runtime
        self.batch_size = batch_size
        self.pause_seconds = pause_seconds  # fault injection for the crash tests
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def kick(self) -> None:
        """Look for work now (called after a job was committed)."""
        self._wake.set()

    def start(self) -> None:
        self._wake.set()  # a job left running by a crash is resumed at once
        self._task = asyncio.create_task(self._loop(), name="history-jobs")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 5.0)
            self._wake.clear()
            try:
                async with self.runtime.database.sessionmaker() as session:
                    job_ids = await HistoryService(
                        session, self.runtime.outbox
                    ).repo.running_job_ids()
                for job_id in job_ids:
                    await self.run_job(job_id)
            except Exception:
                log.exception("job runner failed; retrying")
                await asyncio.sleep(1.0)

    async def _prepare(self, job_id: str) -> _Prepared | None:
        async with self.runtime.database.sessionmaker() as session:
            service = HistoryService(session, self.runtime.outbox)
            job = await service.repo.job(job_id)
            if job is None or job.state != "running":
                return None
            prepared = _Prepared(
                job=job,
                targets=await _targets(service, job_id),
                entry=EntryFields.model_validate(job.params["entry"]),
                staff=StaffRef.model_validate(job.created_by),
                token=Token.parse(job.token),
            )
        if job.kind == "mailing":
            prepared.subject = compile_template("subject", job.params["subject"])
            prepared.body = compile_template("body", job.params["body"])
        return prepared

    async def run_job(self, job_id: str) -> None:
        prepared = await self._prepare(job_id)
        if prepared is None:
            return
        failures = 0
        while True:
            try:
                finished = await self._batch(prepared)
            except Exception as exc:
                failures += 1
                log.exception("job %s: batch failed (%d)", job_id, failures)
                if failures >= 5:
                    await self._fail(job_id, repr(exc))
                    return
                await asyncio.sleep(0.5 * 2**failures)
                continue
            failures = 0
            if finished:
                return
            if self.pause_seconds:
                log.warning("fault injection: job %s pausing %ss", job_id, self.pause_seconds)
                await asyncio.sleep(self.pause_seconds)

    async def _batch(self, prepared: _Prepared) -> bool:
        """One batch in one transaction; returns True when the job is finished."""
        async with self.runtime.database.unit_of_work() as session:
            service = HistoryService(session, self.runtime.outbox)
            job = await service.repo.job(prepared.job.id, lock=True)
            if job is None or job.state != "running":
                return True
            size = batch_size_for(job.total, self.batch_size)
            chunk = prepared.targets[job.done : job.done + size]
            if chunk:
                now = utcnow()
                erased = await service.repo.erased([t.id for t in chunk])  # deleted since
                usable = [
                    t
                    for t in chunk
                    if t.id not in erased and t.status != DELETED and not is_restricted(t.status)
                ]
                mails: list[tuple[EventData, str, dt.datetime]] = []
                if job.kind == "mailing":
                    usable = [t for t in usable if t.email]
                    mails = [self._mail(prepared, t, now) for t in usable]
                written = [t.id for t in usable]
                await service.write_job_entries(
                    job_id=job.id,
                    contact_ids=written,
                    fields=prepared.entry,
                    staff=prepared.staff,
                    now=now,
                )
                await service.repo.write_outbox(
                    service.repo.emit_many(self.runtime.outbox.source, mails)
                )
                job.done += len(chunk)
                job.skipped += len(chunk) - len(written)
            if job.done >= job.total:
                job.state, job.finished_at = "done", utcnow()
                log.info("job %s done: %d contacts, %d skipped", job.id, job.total, job.skipped)
            # the batch's own positions in its own transaction: a job seen done has them
            prepared.token.merge(await self.runtime.database.stamp(session))
            job.token = prepared.token.header() or None
            await session.flush()
            return job.state != "running"

    def _mail(
        self, prepared: _Prepared, contact: Target, now: dt.datetime
    ) -> tuple[EventData, str, dt.datetime]:
        """The mail to one contact, to the address and in the language it had when the
        job started (what the user acted on)."""
        context = template_context(contact)
        request_id = derived_event_id("history", "mailing", prepared.job.id, contact.id)
        assert contact.email is not None  # noqa: S101 - checked by the caller
        event = EmailRequested(
            request_id=request_id,
            contact_id=contact.id,
            recipient=contact.email,
            language="en" if contact.language == "en" else "de",
            subject=" ".join(prepared.subject.render(context).split()) or "-",
            body=prepared.body.render(context),
            reply_to=prepared.staff.email,
        )
        return event, request_id, now

    async def _fail(self, job_id: str, error: str) -> None:
        async with self.runtime.database.unit_of_work() as session:
            job = await HistoryService(session, self.runtime.outbox).repo.job(job_id, lock=True)
            if job is not None and job.state == "running":
                job.state, job.error, job.finished_at = "failed", error[:2000], utcnow()


async def _targets(service: HistoryService, job_id: str) -> list[Target]:
    """The contacts of a job; a job from before selections were kept with their data
    takes them from the local copy as it is now."""
    selection = await service.repo.selection(job_id)
    if selection is None:
        return []
    if selection.contacts is not None:
        return [of_row(row) for row in selection.contacts]
    copies = await service.repo.contact_rows(selection.contact_ids)
    targets = []
    for contact_id in selection.contact_ids:
        copy = copies.get(contact_id)
        if copy is None or copy.status == DELETED:
            targets.append(
                Target(
                    id=contact_id,
                    status=DELETED,
                    name="",
                    email=None,
                    language="de",
                    customer_number=None,
                )
            )
            continue
        targets.append(
            Target(
                id=contact_id,
                status=copy.status,
                name=copy.name,
                email=copy.email,
                language=copy.language,
                customer_number=copy.customer_number,
            )
        )
    return targets
