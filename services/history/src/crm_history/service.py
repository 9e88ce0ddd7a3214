"""Business rules of the history service: pick lists, entries, bulk jobs and mailings,
the contact copy and the timeline. Adds outbox events; never commits."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from crm_history.audit import audit_row_of
from crm_history.mailings import Mailing, compile_template
from crm_history.models import (
    AuditEntry,
    ContactCopy,
    HistoryEntry,
    HistorySettings,
    Job,
    JobSelection,
    TimelineItem,
)
from crm_history.repository import DELETED, HistoryRepository
from crm_history.schemas import (
    AuditPage,
    BulkEntryRequest,
    EntryCreate,
    EntryFields,
    EntryPage,
    EntryPublic,
    EntryUpdate,
    HistoryPersonalData,
    HistorySettingsBody,
    MailingRequest,
    TimelineItemPublic,
    TimelinePage,
)
from crm_history.selections import Selections, Target, as_row, of_row
from crm_history.settings import Settings
from crm_history.timeline import TIMELINE_TOPICS, item_for, timeline_item
from crm_shared import cursor as cursors
from crm_shared.auth import StaffClaims
from crm_shared.consistency import Token
from crm_shared.contact_status import check_not_restricted, is_restricted
from crm_shared.copies import keep_newest, wait_for_copy
from crm_shared.db import table_of
from crm_shared.errors import Conflict, NotFound, Problem, Unprocessable
from crm_shared.events import (
    CloudEvent,
    ContactSnapshot,
    ContactStatusChanged,
    EventData,
    EventTemplate,
    HistoryEntryCreated,
    HistoryEntryDeleted,
    HistoryEntryUpdated,
    StaffRef,
    Topic,
    derived_event_id,
    utcnow,
    uuid5_str,
)
from crm_shared.outbox import Outbox, Serialized, serialize
from crm_shared.service import Runtime
from crm_shared.timezones import BERLIN

log = logging.getLogger(__name__)

ENTRY_FIELDS = (
    "date",
    "staff_initials",
    "action",
    "info",
    "field1",
    "field2",
    "field3",
    "field4",
    "field5",
    "field6",
    "text",
)


# Stands in for the ids in the per-batch templates of a bulk job.
_SAMPLE_ID = "00000000-0000-0000-0000-000000000000"


def source_of_outbox(outbox: Outbox) -> str:
    return outbox.source.removeprefix("/crm/")


def today_berlin() -> dt.date:
    return utcnow().astimezone(BERLIN).date()


def micros(at: dt.datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def job_entry_id(job_id: str, contact_id: str) -> str:
    """The entry a job writes for a contact: the same id on every run of the job."""
    return uuid5_str(uuid.NAMESPACE_URL, f"crm:history:job:{job_id}:{contact_id}")


def entry_event(entry: dict[str, Any], cls: type[HistoryEntryCreated | HistoryEntryUpdated]) -> Any:
    created_by = (
        StaffRef(staff_id=entry["created_by_id"], name=entry["created_by_name"] or "")
        if entry.get("created_by_id")
        else None
    )
    return cls(
        entry_id=entry["id"],
        contact_id=entry["contact_id"],
        created_by=created_by,
        job_id=entry.get("job_id"),
        **{name: entry[name] for name in ENTRY_FIELDS},
    )


# the timeline's topics but its own (the items of entries are written with them)
_COPIED_TOPICS = [topic.value for topic in TIMELINE_TOPICS if topic != Topic.HISTORY]

PROGRESS_STEPS = 10
"""A job moves its cursor at least this many times, so its page shows progress."""
MIN_BATCH = 100
"""Smaller batches would cost more in transactions than the finer progress is worth."""


def batch_size_for(total: int, largest: int) -> int:
    """Contacts per batch of a job of ``total``: a tenth of it, at least ``MIN_BATCH``, at
    most ``largest`` (``CRM_HISTORY_JOB_BATCH_SIZE``): a job of 1,000 goes in ten
    batches of 100 instead of one of 1,000, one of 10,000 or more in batches of 1,000."""
    return min(largest, max(MIN_BATCH, -(-total // PROGRESS_STEPS)))


JobAction = Literal["pause", "resume"]

JOB_TRANSITIONS: dict[JobAction, tuple[str, str]] = {
    "pause": ("running", "paused"),
    "resume": ("paused", "running"),
}
"""What staff may do to a job, from which state to which; anything else is a 409. A
job's other moves (running → done | failed) are the runner's, never a request's."""


def job_transition(job: Job, action: JobAction, staff: StaffClaims) -> tuple[str, str]:
    """The (from, to) states of ``action`` on ``job`` by ``staff``: only the staff member
    who started the job or an admin may pause or resume it (403), and only a running job
    can be paused, only a paused one resumed (409 naming its state)."""
    if job.created_by.get("staff_id") != staff.staff_id and not staff.is_admin:
        raise Problem(403, "only the staff member who started the job or an admin may steer it")
    before, after = JOB_TRANSITIONS[action]
    if job.state != before:
        raise job_refused(job, action)
    return before, after


def job_refused(job: Job, action: JobAction) -> Conflict:
    before = JOB_TRANSITIONS[action][0]
    return Conflict(
        f"only a {before} job can be {action}d; job {job.id} is {job.state}", state=job.state
    )


@dataclass
class JobPlan:
    """What a running job is made of, read once when a runner takes it up: the contacts
    as its selection held them, the entry, who asked, for a mailing its templates."""

    job_id: str
    targets: list[Target]
    entry: EntryFields
    staff: StaffRef
    mailing: Mailing | None = None
    token: Token = field(default_factory=Token)
    """What the job's batches wrote so far (its consistency token)."""


class HistoryService:
    """The history service's rules, in the caller's transaction.

    ``runtime`` and ``selections`` come with the running service (``HistoryDeps.service``):
    reads of the contact copy for a caller wait with the runtime until the copy has what
    the caller has seen (``wait_for_copy``), a job batch stamps its positions with it, and
    bulk jobs resolve their selections through the contacts service. The consumers' and
    the timeline replay's work needs neither.
    """

    def __init__(
        self,
        session: AsyncSession,
        outbox: Outbox,
        *,
        runtime: Runtime[Settings] | None = None,
        selections: Selections | None = None,
    ) -> None:
        self._session = session
        self._repo = HistoryRepository(session)
        self._outbox = outbox
        self._runtime_or_none = runtime
        self._selections_or_none = selections

    @property
    def _runtime(self) -> Runtime[Settings]:
        if self._runtime_or_none is None:
            raise RuntimeError("this needs the running service (HistoryDeps.service)")
        return self._runtime_or_none

    @property
    def _selections(self) -> Selections:
        if self._selections_or_none is None:
            raise RuntimeError("resolving selections needs the running service")
        return self._selections_or_none

    # --- settings ----------------------------------------------------------------------

    async def get_settings(self) -> HistorySettingsBody:
        return HistorySettingsBody.of(await self._repo.settings())

    async def put_settings(self, body: HistorySettingsBody) -> HistorySettingsBody:
        row = await self._repo.settings()
        if row is None:
            row = HistorySettings(id=1)
            self._session.add(row)
        row.actions = list(body.actions)
        row.infos = list(body.infos)
        row.field_labels = body.field_labels.model_dump()
        row.updated_at = utcnow()
        await self._session.flush()
        return HistorySettingsBody.of(row)

    async def check_pick_lists(self, values: dict[str, Any], prefix: str = "") -> None:
        """``action`` and ``info`` must come from the admin's pick lists (seed 000)."""
        settings = await self.get_settings()
        for name, allowed in (("action", settings.actions), ("info", settings.infos)):
            value = values.get(name)
            if value is not None and value not in allowed:
                choices = ", ".join(allowed) if allowed else "none defined yet"
                raise Unprocessable(
                    f"{prefix}{name}", f"{value!r} is not in the {name} pick list ({choices})"
                )

    # --- entries -----------------------------------------------------------------------

    def entry_row(
        self,
        *,
        entry_id: str,
        contact_id: str,
        fields: EntryFields,
        staff: StaffRef | None,
        job_id: str | None,
        now: dt.datetime,
    ) -> dict[str, Any]:
        values = fields.model_dump()
        values["date"] = values["date"] or today_berlin()
        if values["staff_initials"] is None and staff is not None:
            values["staff_initials"] = staff.initials
        return {
            "id": entry_id,
            "contact_id": contact_id,
            **values,
            "created_by_id": staff.staff_id if staff else None,
            "created_by_name": staff.name if staff else None,
            "job_id": job_id,
            "seq": micros(now),
            "created_at": now,
            "updated_at": now,
        }

    def _entry_changes(
        self, rows: list[dict[str, Any]], cls: type[HistoryEntryCreated | HistoryEntryUpdated]
    ) -> tuple[list[Serialized], list[dict[str, Any]]]:
        """Events and timeline rows for entries (same event id, same time)."""
        events: list[Serialized] = []
        timeline: list[dict[str, Any]] = []
        tag = "created" if cls is HistoryEntryCreated else "updated"
        for row in rows:
            payload = entry_event(row, cls)
            at = row["updated_at"]
            event_id = (
                derived_event_id("history", tag, row["id"])
                if tag == "created"
                else str(uuid.uuid4())
            )
            events.append(
                serialize(payload, source=self._outbox.source, event_id=event_id, time=at)
            )
            timeline.append(self._timeline_row(event_id, at, payload))
        return events, timeline

    def _timeline_row(self, event_id: str, at: dt.datetime, payload: EventData) -> dict[str, Any]:
        item = item_for(event_id, at, source_of_outbox(self._outbox), payload)
        assert item is not None  # noqa: S101 - every history event has an item
        return item.row()

    async def write_entries(
        self, rows: list[dict[str, Any]], cls: type[HistoryEntryCreated] = HistoryEntryCreated
    ) -> None:
        events, timeline_rows = self._entry_changes(rows, cls)
        await self._repo.insert_many(HistoryEntry, rows)
        await self._outbox.emit_serialized(self._session, events)
        await self._repo.insert_ignoring_duplicates(TimelineItem, timeline_rows)

    async def write_job_entries(
        self,
        *,
        job_id: str,
        contact_ids: Sequence[str],
        fields: EntryFields,
        staff: StaffRef,
        now: dt.datetime,
    ) -> None:
        """One batch of a bulk job: the same entry for each contact, with its
        ``HistoryEntryCreated`` in the outbox and its timeline item.

        What :meth:`write_entries` writes, row for row, but the payload is validated
        and serialised once per batch (:class:`EventTemplate`) and the timeline item is
        worked out once: per row only the ids change. Per-row pydantic work was most of
        the time of a 100,000-contact job.
        """
        if not contact_ids:
            return
        base = self.entry_row(
            entry_id=_SAMPLE_ID,
            contact_id=_SAMPLE_ID,
            fields=fields,
            staff=staff,
            job_id=job_id,
            now=now,
        )
        payload = entry_event(base, HistoryEntryCreated)
        event = EventTemplate(
            payload, source=self._outbox.source, time=now, fields=("entry_id", "contact_id")
        )
        item = self._timeline_row(_SAMPLE_ID, now, payload)
        # per row only the item's ids change: its summary must not show them
        sample_ids = (item["id"], item["contact_id"], item["ref_id"])
        assert sample_ids == (_SAMPLE_ID,) * 3 and _SAMPLE_ID not in item["summary"]  # noqa: S101
        entry_ids, event_ids, events = [], [], []
        for contact_id in contact_ids:
            entry_id = job_entry_id(job_id, contact_id)
            event_id = derived_event_id("history", "created", entry_id)
            body, key = event.render(event_id, entry_id=entry_id, contact_id=contact_id)
            entry_ids.append(entry_id)
            event_ids.append(event_id)
            events.append(Serialized(event_id, event.topic, key, body))
        ids = {"id", "contact_id", "ref_id"}
        await self._repo.insert_columns(
            HistoryEntry,
            {"id": entry_ids, "contact_id": contact_ids},
            {name: value for name, value in base.items() if name not in ids},
        )
        await self._outbox.emit_serialized(self._session, events, now)
        await self._repo.insert_columns(
            TimelineItem,
            {"id": event_ids, "contact_id": contact_ids, "ref_id": entry_ids},
            {name: value for name, value in item.items() if name not in ids},
            ignore_duplicates=True,
        )

    async def _contact_for_caller(self, contact_id: str) -> ContactCopy:
        """The local copy of a contact, as current as the caller has seen (``wait_for_copy``:
        one created a moment ago is waited for); 404 for an unknown or deleted one."""

        async def load(session: AsyncSession) -> ContactCopy | None:
            return await session.get(ContactCopy, contact_id)

        contact = await wait_for_copy(
            self._runtime,
            Topic.CONTACTS,
            keys=[contact_id],
            load=load,
            ready=lambda c: c is not None,
        )
        if contact is None or contact.status == DELETED:
            raise NotFound("contact", contact_id)
        return contact

    async def _check_not_erased(self, contact_id: str) -> None:
        """A deleted contact's history and timeline are gone: 404 (an unknown one is an
        empty page)."""
        contact = await self._repo.contact(contact_id)
        if contact is not None and contact.status == DELETED:
            raise NotFound("contact", contact_id)

    async def create_entry(
        self, contact_id: str, data: EntryFields, staff: StaffClaims
    ) -> HistoryEntry:
        """An entry for a contact the caller can see, not in the inbox or archived (409
        naming the status), with ``action``/``info`` from the pick lists."""
        contact = await self._contact_for_caller(contact_id)
        check_not_restricted(contact.contact_id, contact.status, "history entries")
        await self.check_pick_lists(data.model_dump())
        row = self.entry_row(
            entry_id=str(uuid.uuid4()),
            contact_id=contact.contact_id,
            fields=data,
            staff=staff.ref(),
            job_id=None,
            now=utcnow(),
        )
        await self.write_entries([row])
        entry = await self._repo.entry(row["id"])
        assert entry is not None  # noqa: S101
        return entry

    async def entries(self, contact_id: str, *, offset: int, limit: int) -> EntryPage:
        """A page of a contact's entries, newest first (date, then creation), with the
        total, read no older than what the caller has seen."""
        await wait_for_copy(self._runtime, Topic.CONTACTS, keys=[contact_id])
        await self._check_not_erased(contact_id)
        rows, total = await self._repo.entry_page(contact_id, offset=offset, limit=limit)
        return EntryPage.of(rows, total=total, offset=offset, limit=limit)

    async def get_entry(self, entry_id: str) -> HistoryEntry:
        entry = await self._repo.entry(entry_id)
        if entry is None:
            raise NotFound("history entry", entry_id)
        return entry

    async def update_entry(self, entry_id: str, data: EntryUpdate) -> HistoryEntry:
        entry = await self.get_entry(entry_id)
        changes = {
            name: value
            for name, value in data.model_dump(exclude_unset=True).items()
            if getattr(entry, name) != value
        }
        if not changes:
            return entry
        await self.check_pick_lists(changes)
        for name, value in changes.items():
            setattr(entry, name, value)
        entry.updated_at = utcnow()
        await self._session.flush()
        events, timeline_rows = self._entry_changes([entry.model_dump()], HistoryEntryUpdated)
        await self._outbox.emit_serialized(self._session, events)
        await self._repo.insert_ignoring_duplicates(TimelineItem, timeline_rows)
        return entry

    async def delete_entry(self, entry_id: str) -> None:
        entry = await self.get_entry(entry_id)
        await self._session.delete(entry)
        await self._session.flush()
        payload = HistoryEntryDeleted(entry_id=entry.id, contact_id=entry.contact_id)
        event_id, now = str(uuid.uuid4()), utcnow()
        await self._outbox.emit_serialized(
            self._session,
            [serialize(payload, source=self._outbox.source, event_id=event_id, time=now)],
        )
        await self._repo.insert_ignoring_duplicates(
            TimelineItem, [self._timeline_row(event_id, now, payload)]
        )

    # --- bulk entries and mailings: starting a job --------------------------------------

    async def start_bulk_entry(
        self, body: BulkEntryRequest, staff: StaffClaims, authorization: str
    ) -> Job:
        """The same entry for every contact of the selection as it is now (resolved by the
        contacts service with the caller's ``authorization``); the job runner does it."""
        await self.check_pick_lists(body.entry.model_dump(), prefix="entry.")
        targets = await self._selections.resolve(body.selection, authorization)
        entry = body.entry.model_copy(update={"date": body.entry.date or today_berlin()})
        return await self._create_job(
            "bulk_entry", targets, {"entry": entry.model_dump(mode="json")}, staff
        )

    async def start_mailing(
        self, body: MailingRequest, staff: StaffClaims, authorization: str
    ) -> Job:
        """A templated email to every contact of the selection as it is now, to the address
        and in the language each has then, with a history entry for each one mailed. The
        templates and the entry are checked before the selection is resolved."""
        compile_template("subject", body.subject)
        compile_template("body", body.body)
        entry = body.entry or EntryCreate(text=None)
        await self.check_pick_lists(entry.model_dump(), prefix="entry.")
        if entry.text is None:
            entry = entry.model_copy(update={"text": f"Mailing: {body.subject}"})
        entry = entry.model_copy(update={"date": entry.date or today_berlin()})
        targets = await self._selections.resolve(body.selection, authorization)
        params = {
            "entry": entry.model_dump(mode="json"),
            "subject": body.subject,
            "body": body.body,
        }
        return await self._create_job("mailing", targets, params, staff)

    async def _create_job(
        self, kind: str, targets: Sequence[Target], params: dict[str, Any], staff: StaffClaims
    ) -> Job:
        """A job over the contacts a selection held when it started (``total`` of them)."""
        job = Job(
            id=str(uuid.uuid4()),
            kind=kind,
            total=len(targets),
            params=params,
            created_by=staff.ref().model_dump(),
        )
        if not targets:
            job.state, job.finished_at = "done", utcnow()
        self._session.add(job)
        if targets:  # kept while the job runs (see HistoryRepository.forget_selection)
            self._session.add(
                JobSelection(
                    job_id=job.id,
                    contact_ids=[t.id for t in targets],
                    contacts=[as_row(t) for t in targets],
                )
            )
        await self._session.flush()
        return job

    async def get_job(self, job_id: str) -> Job:
        job = await self._repo.job(job_id)
        if job is None:
            raise NotFound("job", job_id)
        return job

    async def pause_job(self, job_id: str, staff: StaffClaims) -> Job:
        """Pause a running job: a batch in flight ends (it is one transaction), and the
        runner takes no further batch of it, also after a restart, until it is resumed."""
        return await self._steer_job(job_id, "pause", staff)

    async def resume_job(self, job_id: str, staff: StaffClaims) -> Job:
        """A paused job runs again from its cursor (the caller wakes the runner)."""
        return await self._steer_job(job_id, "resume", staff)

    async def _steer_job(self, job_id: str, action: JobAction, staff: StaffClaims) -> Job:
        job = await self.get_job(job_id)
        before, after = job_transition(job, action, staff)
        # compare and set: on PostgreSQL it waits for a batch in flight (which holds the
        # row), and a batch that finished the job meanwhile makes it a 409
        if not await self._repo.move_job(job.id, before, after):
            await self._session.refresh(job)
            raise job_refused(job, action)
        await self._session.refresh(job)
        return job

    # --- bulk entries and mailings: running a job (for the job runner) ------------------

    async def running_job_ids(self) -> list[str]:
        """Jobs not finished yet, oldest first (a crash may have left some)."""
        return await self._repo.running_job_ids()

    async def job_plan(self, job_id: str) -> JobPlan | None:
        """What a running job is made of, or None when it is not running (finished or
        paused)."""
        job = await self._repo.job(job_id)
        if job is None or job.state != "running":
            return None
        staff = StaffRef.model_validate(job.created_by)
        return JobPlan(
            job_id=job.id,
            targets=await self._job_targets(job_id),
            entry=EntryFields.model_validate(job.params["entry"]),
            staff=staff,
            mailing=(
                Mailing.compile(job.id, job.params["subject"], job.params["body"], staff)
                if job.kind == "mailing"
                else None
            ),
            token=Token.parse(job.token),
        )

    async def write_job_batch(self, plan: JobPlan, largest: int) -> bool:
        """The job's next batch (:func:`batch_size_for`), its cursor moved in the same
        transaction; returns True when the runner is through with it: the job is
        finished, or paused (a pause waits for the batch in flight, then the next call
        finds the job not running and writes nothing).

        Contacts in the inbox or archived, deleted since the job started, or for a mailing
        without an address, are counted in ``skipped``. On PostgreSQL the job row is locked,
        so replicas take turns. The batch's own positions go into the job row in the same
        transaction (:meth:`Database.stamp`): a job seen done has them all."""
        job = await self._repo.job(plan.job_id, lock=True)
        if job is None or job.state != "running":
            return True
        size = batch_size_for(job.total, largest)
        chunk = plan.targets[job.done : job.done + size]
        if chunk:
            now = utcnow()
            erased = await self._repo.erased([t.id for t in chunk])  # deleted since
            usable = [
                t
                for t in chunk
                if t.id not in erased and t.status != DELETED and not is_restricted(t.status)
            ]
            mails: list[tuple[EventData, str, dt.datetime]] = []
            if plan.mailing is not None:
                usable = [t for t in usable if t.email]
                mails = [plan.mailing.mail(t, now) for t in usable]
            written = [t.id for t in usable]
            await self.write_job_entries(
                job_id=job.id,
                contact_ids=written,
                fields=plan.entry,
                staff=plan.staff,
                now=now,
            )
            await self._outbox.emit_serialized(
                self._session,
                [
                    serialize(mail, source=self._outbox.source, event_id=event_id, time=at)
                    for mail, event_id, at in mails
                ],
            )
            job.done += len(chunk)
            job.skipped += len(chunk) - len(written)
        if job.done >= job.total:
            job.state, job.finished_at = "done", utcnow()
            await self._repo.forget_selection(job.id)
            log.info("job %s done: %d contacts, %d skipped", job.id, job.total, job.skipped)
        # the batch's own positions in its own transaction: a job seen done has them
        plan.token.merge(await self._runtime.database.stamp(self._session))
        job.token = plan.token.header() or None
        await self._session.flush()
        return job.state != "running"

    async def fail_job(self, job_id: str, error: str) -> None:
        job = await self._repo.job(job_id, lock=True)
        if job is not None and job.state == "running":
            job.state, job.error, job.finished_at = "failed", error[:2000], utcnow()
            await self._repo.forget_selection(job.id)

    async def _job_targets(self, job_id: str) -> list[Target]:
        """The contacts of a job; a job from before selections were kept with their data
        takes them from the local copy as it is now."""
        selection = await self._repo.selection(job_id)
        if selection is None:
            return []
        if selection.contacts is not None:
            return [of_row(row) for row in selection.contacts]
        copies = await self._repo.contact_rows(selection.contact_ids)
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

    # --- contact events -----------------------------------------------------------------

    async def apply_contacts(self, events: Sequence[tuple[CloudEvent, ContactSnapshot]]) -> None:
        """ContactCreated/ContactUpdated in a row: keep the newest state of each contact
        (events may repeat or come late; a tombstone stays) and add their timeline items,
        in one upsert and one insert however many there are (a CSV import's burst)."""
        table = table_of(ContactCopy)
        rows = [
            {
                "contact_id": snapshot.contact_id,
                "name": snapshot.name,
                "email": snapshot.email,
                "language": snapshot.language,
                "customer_number": snapshot.customer_number,
                "status": snapshot.status,
                "version": snapshot.version,
            }
            for _, snapshot in events
        ]
        await keep_newest(self._session, table, rows, tombstone=("status", DELETED))
        items = [item for event, data in events if (item := timeline_item(event, data))]
        erased = await self._repo.erased([item.contact_id for item in items])
        rows = [item.row() for item in items if item.contact_id not in erased]
        await self._repo.insert_ignoring_duplicates(TimelineItem, rows)

    async def apply_status(self, event: ContactStatusChanged) -> None:
        copy = await self._repo.contact(event.contact_id)
        if copy is None or copy.status == DELETED or copy.version >= event.version:
            return
        copy.status, copy.version = event.status, event.version
        await self._session.flush()

    async def erase_contact(self, contact_id: str) -> None:
        """GDPR: entries, timeline and personal data go; a tombstone id stays so late
        events about the contact are ignored."""
        await self._repo.erase_contact(contact_id)
        copy = await self._repo.contact(contact_id)
        if copy is None:
            copy = ContactCopy(contact_id=contact_id, name="", status=DELETED)
            self._session.add(copy)
        copy.name, copy.email, copy.customer_number, copy.status = "", None, None, DELETED
        await self._session.flush()

    # --- timeline ----------------------------------------------------------------------

    async def project(self, event: CloudEvent, payload: EventData) -> None:
        """Add the event's timeline item, unless the contact was erased (GDPR) or the
        item exists (a redelivered or replayed event)."""
        item = timeline_item(event, payload)
        if item is None:
            return
        copy = await self._repo.contact(item.contact_id)
        if copy is not None and copy.status == DELETED:
            return
        await self._repo.insert_ignoring_duplicates(TimelineItem, [item.row()])

    async def timeline(self, contact_id: str, *, cursor: str | None, limit: int) -> TimelinePage:
        """A page of a contact's timeline, newest first, keyset-paged by (time, item id),
        read no older than what the caller has seen on every topic it is made of."""
        await wait_for_copy(self._runtime, _COPIED_TOPICS, keys=[contact_id])
        await self._check_not_erased(contact_id)
        after = cursors.keyset(cursor, dt.datetime, str)
        rows = await self._repo.timeline_page(contact_id, after=after, limit=limit + 1)
        last = rows[limit - 1] if len(rows) > limit else None
        return TimelinePage.of(rows[:limit], cursors.encode(last.at, last.id) if last else None)

    # --- audit trail -------------------------------------------------------------------

    async def record_audit(self, events: Sequence[tuple[CloudEvent, EventData]]) -> None:
        """The audit rows of contact events (created, updated, status, assigned,
        deleted), in one insert; a redelivered event adds nothing. Kept after a
        permanent delete: they hold no personal data (``crm_history.audit``)."""
        rows = [row for event, data in events if (row := audit_row_of(event, data))]
        await self._repo.insert_ignoring_duplicates(AuditEntry, rows)

    async def audit(self, contact_id: str | None, *, cursor: str | None, limit: int) -> AuditPage:
        """A page of the audit trail, of one contact or of all, newest first, keyset-paged
        by (time, row id), read no older than what the caller has seen."""
        keys = [contact_id] if contact_id is not None else None
        await wait_for_copy(self._runtime, Topic.CONTACTS, keys=keys)
        after = cursors.keyset(cursor, dt.datetime, str)
        rows = await self._repo.audit_page(contact_id, after=after, limit=limit + 1)
        last = rows[limit - 1] if len(rows) > limit else None
        return AuditPage.of(rows[:limit], cursors.encode(last.at, last.id) if last else None)

    async def personal_data(self, contact_id: str) -> HistoryPersonalData:
        """Everything this service holds about a contact (GDPR Art. 15/20): its entries
        and its timeline, read no older than what the caller has seen (empty once the
        contact was deleted)."""
        await wait_for_copy(self._runtime, _COPIED_TOPICS, keys=[contact_id])
        entries = await self._repo.entries_of(contact_id)
        items = await self._repo.timeline_of(contact_id)
        return HistoryPersonalData(
            history=[EntryPublic.of(e) for e in entries],
            timeline=[TimelineItemPublic.of(i) for i in items],
        )

    async def clear_timeline(self) -> None:
        """Remove every item (the replay rebuilds them from the topics)."""
        await self._repo.clear_timeline()
