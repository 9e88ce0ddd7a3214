"""The audit trail's projection: who changed what and when, for contacts, their status,
their assignment and their permanent delete, from the contact events (issue 19).

Pure, like the timeline's: the same event gives the same row, keyed by the event id, so a
redelivered event adds nothing. A row holds no personal data of the contact: the
contact id, the acting staff member (the event's ``actor``, ``changed_by`` or
``assigned_by``), the kind of change and its non-personal detail (the names of the
changed fields, never their values; the statuses; the assignee's id). So a permanent
delete, which erases the timeline, leaves the audit as it is and adds its own row: the
fact of the delete (who, when, the contact id) stays, the person does not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_shared.events import (
    CloudEvent,
    ContactAssigned,
    ContactCreated,
    ContactDeleted,
    ContactStatusChanged,
    ContactUpdated,
    EventData,
    StaffRef,
)


def _row(
    event_id: str,
    at: datetime,
    contact_id: str,
    action: str,
    actor: StaffRef | None,
    detail: dict[str, Any],
) -> dict[str, Any]:
    return {
        "id": event_id,
        "contact_id": contact_id,
        "at": at,
        "action": action,
        "actor_id": actor.staff_id if actor else None,
        "actor_name": actor.name if actor else None,
        "detail": detail,
    }


def audit_row(event_id: str, at: datetime, payload: EventData) -> dict[str, Any] | None:
    """The audit row of a contact event, or None for events the audit does not keep.

    A ``ContactUpdated`` that only carries a status change is left out: the
    ``ContactStatusChanged`` it comes with is the row."""
    detail: dict[str, Any]
    if isinstance(payload, ContactCreated):
        detail = {"kind": payload.kind, "status": payload.status}
        return _row(event_id, at, payload.contact_id, "created", payload.actor, detail)
    if isinstance(payload, ContactUpdated):
        changed = [name for name in payload.changed if name != "status"]
        if not changed:
            return None
        detail = {"changed": changed}
        return _row(event_id, at, payload.contact_id, "updated", payload.actor, detail)
    if isinstance(payload, ContactStatusChanged):
        detail = {"old_status": payload.old_status, "status": payload.status}
        return _row(event_id, at, payload.contact_id, "status", payload.changed_by, detail)
    if isinstance(payload, ContactAssigned):
        detail = payload.assignment.model_dump(mode="json")
        return _row(event_id, at, payload.contact_id, "assigned", payload.assigned_by, detail)
    if isinstance(payload, ContactDeleted):
        return _row(event_id, at, payload.contact_id, "deleted", payload.actor, {})
    return None


def audit_row_of(event: CloudEvent, payload: EventData) -> dict[str, Any] | None:
    """The audit row an event adds (see :func:`audit_row`)."""
    return audit_row(event.id, event.time, payload)
