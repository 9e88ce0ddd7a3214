"""Events of the history service, on ``crm.history`` (key: the contact id)."""

from __future__ import annotations

from datetime import date

from crm_shared.events.base import EventData, Topic, event
from crm_shared.events.common import StaffRef


class HistoryEntryData(EventData):
    """A customer history entry (seed 000) as it is after the change."""

    entry_id: str
    contact_id: str
    date: date
    staff_initials: str | None = None
    action: str | None = None
    info: str | None = None
    field1: str | None = None
    field2: str | None = None
    field3: str | None = None
    field4: str | None = None
    field5: bool = False
    field6: bool = False
    text: str | None = None
    created_by: StaffRef | None = None
    job_id: str | None = None


@event("HistoryEntryCreated", Topic.HISTORY)
class HistoryEntryCreated(HistoryEntryData):
    """A history entry was created (by hand, by a bulk job or by a mailing)."""


@event("HistoryEntryUpdated", Topic.HISTORY)
class HistoryEntryUpdated(HistoryEntryData):
    """A history entry was changed; carries the whole new entry."""


@event("HistoryEntryDeleted", Topic.HISTORY)
class HistoryEntryDeleted(EventData):
    """A history entry was deleted."""

    entry_id: str
    contact_id: str
