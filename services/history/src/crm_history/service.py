"""Business rules of the history service. Adds outbox events; never commits."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_history.models import (
    ContactCopy,
    HistoryEntry,
    HistorySettings,
    Job,
    JobSelection,
    TimelineItem,
)
from crm_history.repository import DELETED, HistoryRepository
from crm_history.schemas import (
    DEFAULT_LABELS,
    CreatedBy,
    EntryFields,
    EntryPublic,
    EntryUpdate,
    FieldLabels,
    HistorySettingsBody,
)
from crm_history.selections import Target, as_row
from crm_history.timeline import item_for, timeline_item
from crm_shared.auth import StaffClaims
from crm_shared.contact_status import check_not_restricted
from crm_shared.copies import keep_newest
from crm_shared.db import table_of
from crm_shared.errors import NotFound, Unprocessable
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
    derived_event_id,
    utcnow,
    uuid5_str,
)
from crm_shared.outbox import Outbox
from crm_shared.timezones import BERLIN

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


def to_public(entry: HistoryEntry) -> EntryPublic:
    created_by = (
        CreatedBy(staff_id=entry.created_by_id, name=entry.created_by_name)
        if entry.created_by_id
        else None
    )
    return EntryPublic(
        **entry.model_dump(exclude={"created_by_id", "created_by_name", "seq"}),
        created_by=created_by,
    )


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


def settings_body(row: HistorySettings | None) -> HistorySettingsBody:
    if row is None:
        return HistorySettingsBody(field_labels=FieldLabels(**DEFAULT_LABELS))
    return HistorySettingsBody(
        actions=row.actions, infos=row.infos, field_labels=FieldLabels(**row.field_labels)
    )


class HistoryService:
    def __init__(self, session: AsyncSession, outbox: Outbox) -> None:
        self.session = session
        self.repo = HistoryRepository(session)
        self.outbox = outbox

    # --- settings ----------------------------------------------------------------------

    async def get_settings(self) -> HistorySettingsBody:
        return settings_body(await self.repo.settings())

    async def put_settings(self, body: HistorySettingsBody) -> HistorySettingsBody:
        row = await self.repo.settings()
        if row is None:
            row = HistorySettings(id=1)
            self.session.add(row)
        row.actions = list(body.actions)
        row.infos = list(body.infos)
        row.field_labels = body.field_labels.model_dump()
        row.updated_at = utcnow()
        await self.session.flush()
        return settings_body(row)

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

    def entry_changes(
        self, rows: list[dict[str, Any]], cls: type[HistoryEntryCreated | HistoryEntryUpdated]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Outbox rows and timeline rows for entries (same event id, same time)."""
        events: list[tuple[EventData, str, dt.datetime]] = []
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
            events.append((payload, event_id, at))
            timeline.append(self.timeline_row(event_id, at, payload))
        return self.repo.emit_many(self.outbox.source, events), timeline

    def timeline_row(self, event_id: str, at: dt.datetime, payload: EventData) -> dict[str, Any]:
        item = item_for(event_id, at, source_of_outbox(self.outbox), payload)
        assert item is not None  # noqa: S101 - every history event has an item
        return item.row()

    async def write_entries(
        self, rows: list[dict[str, Any]], cls: type[HistoryEntryCreated] = HistoryEntryCreated
    ) -> None:
        outbox_rows, timeline_rows = self.entry_changes(rows, cls)
        await self.repo.insert_many(HistoryEntry, rows)
        await self.repo.write_outbox(outbox_rows)
        await self.repo.insert_ignoring_duplicates(TimelineItem, timeline_rows)

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
            payload, source=self.outbox.source, time=now, fields=("entry_id", "contact_id")
        )
        item = self.timeline_row(_SAMPLE_ID, now, payload)
        # per row only the item's ids change: its summary must not show them
        sample_ids = (item["id"], item["contact_id"], item["ref_id"])
        assert sample_ids == (_SAMPLE_ID,) * 3 and _SAMPLE_ID not in item["summary"]  # noqa: S101
        entry_ids, event_ids, bodies, keys = [], [], [], []
        for contact_id in contact_ids:
            entry_id = job_entry_id(job_id, contact_id)
            event_id = derived_event_id("history", "created", entry_id)
            body, key = event.render(event_id, entry_id=entry_id, contact_id=contact_id)
            entry_ids.append(entry_id)
            event_ids.append(event_id)
            bodies.append(body)
            keys.append(key)
        ids = {"id", "contact_id", "ref_id"}
        await self.repo.insert_columns(
            HistoryEntry,
            {"id": entry_ids, "contact_id": contact_ids},
            {name: value for name, value in base.items() if name not in ids},
        )
        await self.repo.write_outbox_columns(
            {"event_id": event_ids, "key": keys, "body": bodies},
            {"topic": event.topic, "created_at": now},
        )
        await self.repo.insert_columns(
            TimelineItem,
            {"id": event_ids, "contact_id": contact_ids, "ref_id": entry_ids},
            {name: value for name, value in item.items() if name not in ids},
            ignore_duplicates=True,
        )

    async def create_entry(
        self, contact: ContactCopy, data: EntryFields, staff: StaffClaims
    ) -> HistoryEntry:
        if contact.status == DELETED:
            raise NotFound("contact", contact.contact_id)
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
        entry = await self.repo.entry(row["id"])
        assert entry is not None  # noqa: S101
        return entry

    async def get_entry(self, entry_id: str) -> HistoryEntry:
        entry = await self.repo.entry(entry_id)
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
        await self.session.flush()
        outbox_rows, timeline_rows = self.entry_changes([entry.model_dump()], HistoryEntryUpdated)
        await self.repo.write_outbox(outbox_rows)
        await self.repo.insert_ignoring_duplicates(TimelineItem, timeline_rows)
        return entry

    async def delete_entry(self, entry_id: str) -> None:
        entry = await self.get_entry(entry_id)
        await self.session.delete(entry)
        await self.session.flush()
        payload = HistoryEntryDeleted(entry_id=entry.id, contact_id=entry.contact_id)
        event_id, now = str(uuid.uuid4()), utcnow()
        await self.repo.write_outbox(
            self.repo.emit_many(self.outbox.source, [(payload, event_id, now)])
        )
        await self.repo.insert_ignoring_duplicates(
            TimelineItem, [self.timeline_row(event_id, now, payload)]
        )

    # --- selections and jobs -----------------------------------------------------------

    async def create_job(
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
        self.session.add(job)
        self.session.add(
            JobSelection(
                job_id=job.id,
                contact_ids=[t.id for t in targets],
                contacts=[as_row(t) for t in targets],
            )
        )
        await self.session.flush()
        return job

    async def get_job(self, job_id: str) -> Job:
        job = await self.repo.job(job_id)
        if job is None:
            raise NotFound("job", job_id)
        return job

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
        await keep_newest(self.session, table, rows, tombstone=("status", DELETED))
        items = [item for event, data in events if (item := timeline_item(event, data))]
        erased = await self.repo.erased([item.contact_id for item in items])
        rows = [item.row() for item in items if item.contact_id not in erased]
        await self.repo.insert_ignoring_duplicates(TimelineItem, rows)

    async def apply_status(self, event: ContactStatusChanged) -> None:
        copy = await self.repo.contact(event.contact_id)
        if copy is None or copy.status == DELETED or copy.version >= event.version:
            return
        copy.status, copy.version = event.status, event.version
        await self.session.flush()

    async def erase_contact(self, contact_id: str) -> None:
        """GDPR: entries, timeline and personal data go; a tombstone id stays so late
        events about the contact are ignored."""
        await self.repo.erase_contact(contact_id)
        copy = await self.repo.contact(contact_id)
        if copy is None:
            copy = ContactCopy(contact_id=contact_id, name="", status=DELETED)
            self.session.add(copy)
        copy.name, copy.email, copy.customer_number, copy.status = "", None, None, DELETED
        await self.session.flush()

    # --- timeline ----------------------------------------------------------------------

    async def project(self, event: CloudEvent, payload: EventData) -> None:
        """Add the event's timeline item, unless the contact was erased (GDPR) or the
        item exists (a redelivered or replayed event)."""
        item = timeline_item(event, payload)
        if item is None:
            return
        copy = await self.repo.contact(item.contact_id)
        if copy is not None and copy.status == DELETED:
            return
        await self.repo.insert_ignoring_duplicates(TimelineItem, [item.row()])
