"""API request and response models of the history service, and the mappers from its
rows to them (``XPublic.of(row)``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crm_history.models import AuditEntry, HistoryEntry, HistorySettings, Job, TimelineItem
from crm_shared.fields import Day, NotNull, PlainText, Text

FIELD_NAMES = ("field1", "field2", "field3", "field4", "field5", "field6")
DEFAULT_LABELS = {
    "field1": "Feld 1",
    "field2": "Feld 2",
    "field3": "Feld 3",
    "field4": "Feld 4",
    "field5": "Feld 5",
    "field6": "Feld 6",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class FieldLabels(_Strict):
    """Labels of the six free fields; field5 and field6 are shown as checkboxes."""

    field1: PlainText = Field(default="Feld 1", min_length=1, max_length=100)
    field2: PlainText = Field(default="Feld 2", min_length=1, max_length=100)
    field3: PlainText = Field(default="Feld 3", min_length=1, max_length=100)
    field4: PlainText = Field(default="Feld 4", min_length=1, max_length=100)
    field5: PlainText = Field(default="Feld 5", min_length=1, max_length=100)
    field6: PlainText = Field(default="Feld 6", min_length=1, max_length=100)


PickValue = str


def _pick_list(values: list[str]) -> list[str]:
    cleaned = [v.strip() for v in values]
    if any(not v or len(v) > 200 for v in cleaned):
        raise ValueError("entries must be 1 to 200 characters")
    if len(set(cleaned)) != len(cleaned):
        raise ValueError("entries must be unique")
    return cleaned


class HistorySettingsBody(_Strict):
    """Pick lists for ``action`` and ``info`` and the labels of fields 1-6."""

    actions: list[PlainText] = Field(default_factory=list, max_length=500)
    infos: list[PlainText] = Field(default_factory=list, max_length=500)
    field_labels: FieldLabels = Field(default_factory=FieldLabels)

    _actions = field_validator("actions", "infos")(_pick_list)

    @classmethod
    def of(cls, row: HistorySettings | None) -> HistorySettingsBody:
        """The stored settings, or the defaults before an admin saved any."""
        if row is None:
            return cls(field_labels=FieldLabels(**DEFAULT_LABELS))
        return cls(
            actions=row.actions, infos=row.infos, field_labels=FieldLabels(**row.field_labels)
        )


class EntryFields(_Strict):
    """The fields of an entry a user fills in (shared by create, update, bulk, mailing)."""

    date: Day | None = Field(default=None, description="default: today (Europe/Berlin)")
    staff_initials: PlainText | None = Field(
        default=None, max_length=16, description="default: yours, from your staff record"
    )
    action: PlainText | None = Field(default=None, max_length=200)
    info: PlainText | None = Field(default=None, max_length=200)
    field1: PlainText | None = Field(default=None, max_length=500)
    field2: PlainText | None = Field(default=None, max_length=500)
    field3: PlainText | None = Field(default=None, max_length=500)
    field4: PlainText | None = Field(default=None, max_length=500)
    field5: bool = False
    field6: bool = False
    text: Text | None = Field(default=None, max_length=100_000)


class EntryCreate(EntryFields):
    pass


class EntryUpdate(_Strict):
    """A partial change; ``null`` clears a text, and is a 422 for ``date``, ``field5``
    and ``field6`` (``NotNull``)."""

    date: NotNull[Day] = None
    staff_initials: PlainText | None = Field(default=None, max_length=16)
    action: PlainText | None = Field(default=None, max_length=200)
    info: PlainText | None = Field(default=None, max_length=200)
    field1: PlainText | None = Field(default=None, max_length=500)
    field2: PlainText | None = Field(default=None, max_length=500)
    field3: PlainText | None = Field(default=None, max_length=500)
    field4: PlainText | None = Field(default=None, max_length=500)
    field5: NotNull[bool] = None
    field6: NotNull[bool] = None
    text: Text | None = Field(default=None, max_length=100_000)


class CreatedBy(BaseModel):
    staff_id: str
    name: str | None


class EntryPublic(BaseModel):
    id: str
    contact_id: str
    date: dt.date
    staff_initials: str | None
    action: str | None
    info: str | None
    field1: str | None
    field2: str | None
    field3: str | None
    field4: str | None
    field5: bool
    field6: bool
    text: str | None
    created_by: CreatedBy | None
    job_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, entry: HistoryEntry) -> EntryPublic:
        created_by = (
            CreatedBy(staff_id=entry.created_by_id, name=entry.created_by_name)
            if entry.created_by_id
            else None
        )
        return cls(
            **entry.model_dump(exclude={"created_by_id", "created_by_name", "seq"}),
            created_by=created_by,
        )


class EntryPage(BaseModel):
    """One page of a contact's entries, newest first; ``total`` for "1 von 2"."""

    items: list[EntryPublic]
    total: int
    offset: int
    limit: int

    @classmethod
    def of(cls, rows: Sequence[HistoryEntry], *, total: int, offset: int, limit: int) -> EntryPage:
        return cls(items=[EntryPublic.of(r) for r in rows], total=total, offset=offset, limit=limit)


class Selection(_Strict):
    """Exactly one of ``contact_ids``, ``group_id`` (static, dynamic or temporary) or
    ``filter`` (any filter of the contacts list, as ``GET /api/contacts`` takes it, e.g.
    ``{"crm_status": "Kunde", "history.action": "Anruf"}``); the contacts service resolves
    it when the job starts."""

    contact_ids: list[PlainText] | None = Field(default=None, max_length=1_000_000)
    group_id: str | None = Field(default=None, min_length=1, max_length=36)
    filter: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Selection:
        given = [n for n in ("contact_ids", "group_id", "filter") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of contact_ids, group_id, filter")
        return self


class BulkEntryRequest(_Strict):
    selection: Selection
    entry: EntryFields


class MailingRequest(_Strict):
    selection: Selection
    subject: PlainText = Field(min_length=1, max_length=500)
    body: Text = Field(min_length=1, max_length=100_000)
    entry: EntryFields | None = Field(
        default=None, description="the history entry per contact; default: text = subject"
    )


class JobAccepted(BaseModel):
    job_id: str


class JobStarter(BaseModel):
    staff_id: str
    name: str


class JobPublic(BaseModel):
    """``total``: the contacts the selection held when the job started; ``done`` of them
    are through, ``skipped`` of those got nothing (in the inbox or archived, deleted
    since, or for a mailing without an email address). A ``paused`` job keeps its cursor
    until it is resumed."""

    id: str
    kind: Literal["bulk_entry", "mailing"]
    state: Literal["running", "paused", "done", "failed"]
    total: int
    done: int
    skipped: int
    error: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None
    created_by: JobStarter | None = Field(
        default=None, description="who started it: they (or an admin) may pause and resume it"
    )

    @classmethod
    def of(cls, job: Job) -> JobPublic:
        values = job.model_dump()
        if not values["created_by"].get("staff_id"):
            values["created_by"] = None
        return cls.model_validate(values)


class TimelineItemPublic(BaseModel):
    at: dt.datetime
    type: str
    source: str
    summary: str
    ref_id: str | None

    @classmethod
    def of(cls, item: TimelineItem) -> TimelineItemPublic:
        return cls.model_validate(item.model_dump())


class TimelinePage(BaseModel):
    items: list[TimelineItemPublic]
    next_cursor: str | None

    @classmethod
    def of(cls, rows: Sequence[TimelineItem], next_cursor: str | None) -> TimelinePage:
        return cls(items=[TimelineItemPublic.of(r) for r in rows], next_cursor=next_cursor)


class AuditActor(BaseModel):
    staff_id: str
    name: str | None


class AuditEntryPublic(BaseModel):
    """Who changed what and when about a contact: ``action`` is created, updated (with
    ``detail.changed``: the names of the changed fields), status (``old_status``,
    ``status``), assigned (``mode``, ``staff_id``, ``competence_id``) or deleted;
    ``actor`` is null where no staff member acted (an import)."""

    id: str
    at: dt.datetime
    contact_id: str
    action: str
    actor: AuditActor | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, row: AuditEntry) -> AuditEntryPublic:
        actor = AuditActor(staff_id=row.actor_id, name=row.actor_name) if row.actor_id else None
        return cls(
            id=row.id,
            at=row.at,
            contact_id=row.contact_id,
            action=row.action,
            actor=actor,
            detail=row.detail,
        )


class AuditPage(BaseModel):
    items: list[AuditEntryPublic]
    next_cursor: str | None

    @classmethod
    def of(cls, rows: Sequence[AuditEntry], next_cursor: str | None) -> AuditPage:
        return cls(items=[AuditEntryPublic.of(r) for r in rows], next_cursor=next_cursor)


class HistoryPersonalData(BaseModel):
    """What the history service holds about a contact (its part of ``GET
    /api/contacts/{id}/personal-data``): every history entry, newest first, and the
    whole CRM timeline, newest first."""

    history: list[EntryPublic]
    timeline: list[TimelineItemPublic]
