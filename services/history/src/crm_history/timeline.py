"""The CRM timeline projection (CRM-Historie, seed 004): one item per event about a
contact, from the events of every service. Pure: the same event gives the same item
(keyed by the event id, timed by the event's time), so replaying the topics rebuilds
exactly the same timeline.

Nothing here ever deletes an item: a removed campaign membership, a retired campaign or
a deleted interaction add an item of their own; only ``ContactDeleted`` erases (GDPR).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crm_shared.events import (
    CampaignMemberAdded,
    CampaignMemberRemoved,
    CloudEvent,
    ContactAssigned,
    ContactCreated,
    ContactStatusChanged,
    EventData,
    HistoryEntryCreated,
    HistoryEntryData,
    HistoryEntryDeleted,
    HistoryEntryUpdated,
    InteractionDeleted,
    InteractionLogged,
    InteractionUpdated,
    OpportunityCreated,
    OpportunityDeleted,
    OpportunityUpdated,
    ProcedureCompleted,
    ProcedurePlanned,
    ProcedureRescheduled,
    Topic,
)

STATUS_DE = {
    "inbox": "Eingang",
    "prospect": "Interessent",
    "customer": "Kunde",
    "archived": "Archiv",
}
KIND_DE = {"internal": "intern", "incoming": "eingehend", "outgoing": "ausgehend"}
PROCEDURE_DE = {
    "call": "Anruf",
    "meeting": "Termin",
    "email": "E-Mail",
    "letter": "Brief",
    "measure": "Maßnahme",
}

# Topics the timeline is built from (the replay reads all of them from the beginning).
TIMELINE_TOPICS = (
    Topic.CONTACTS,
    Topic.HISTORY,
    Topic.INTERACTIONS,
    Topic.PROCEDURES,
    Topic.CAMPAIGNS,
    Topic.OPPORTUNITIES,
)


def _quote(text: str) -> str:
    return f"„{text}“"


def _entry_summary(prefix: str, entry: HistoryEntryData) -> str:
    parts = [p for p in (entry.action, entry.info) if p]
    detail = " - ".join(parts) if parts else (entry.text or "")[:120]
    return f"{prefix}: {detail}" if detail else prefix


def _history(event: EventData) -> tuple[str, str, str | None] | None:
    if isinstance(event, HistoryEntryCreated):
        return "history", _entry_summary("Historieneintrag", event), event.entry_id
    if isinstance(event, HistoryEntryUpdated):
        return "history", _entry_summary("Historieneintrag geändert", event), event.entry_id
    if isinstance(event, HistoryEntryDeleted):
        return "history", "Historieneintrag gelöscht", event.entry_id
    return None


def _contact(event: EventData) -> tuple[str, str, str | None] | None:
    if isinstance(event, ContactCreated):
        status = STATUS_DE.get(event.status, event.status)
        return "contact", f"Kontakt angelegt ({status})", event.contact_id
    if isinstance(event, ContactStatusChanged):
        old = STATUS_DE.get(event.old_status, event.old_status)
        new = STATUS_DE.get(event.status, event.status)
        return "status", f"Status geändert: {old} → {new}", event.contact_id
    if isinstance(event, ContactAssigned):
        a = event.assignment
        if a.mode == "staff":
            summary = "Zuständigkeit: Mitarbeiter zugewiesen"
        elif a.mode == "competence":
            summary = "Zuständigkeit: Kompetenz zugewiesen"
        else:
            summary = "Zuständigkeit: alle Mitarbeiter"
        if event.assigned_by:
            summary += f" (durch {event.assigned_by.name})"
        return "assignment", summary, a.staff_id or a.competence_id or event.contact_id
    return None


def _interaction(event: EventData) -> tuple[str, str, str | None] | None:
    if isinstance(event, InteractionLogged):
        kind = KIND_DE.get(event.kind, event.kind)
        return "interaction", f"Interaktion ({kind}): {event.topic}", event.interaction_id
    if isinstance(event, InteractionUpdated):
        return "interaction", f"Interaktion geändert: {event.topic}", event.interaction_id
    if isinstance(event, InteractionDeleted):
        return "interaction", "Interaktion gelöscht", event.interaction_id
    return None


def _procedure(event: EventData) -> tuple[str, str, str | None] | None:
    if not isinstance(event, ProcedurePlanned | ProcedureRescheduled | ProcedureCompleted):
        return None
    what = PROCEDURE_DE.get(event.type, event.type)
    if isinstance(event, ProcedureCompleted):
        verb = "durchgeführt" if event.outcome == "done" else "nicht durchgeführt"
    elif isinstance(event, ProcedureRescheduled):
        verb = "verschoben"
    else:
        verb = "geplant" if event.state == "planned" else "erfasst"
    return "procedure", f"Kontaktvorgang ({what}) {verb}: {event.subject}", event.procedure_id


def _campaign(event: EventData) -> tuple[str, str, str | None] | None:
    if isinstance(event, CampaignMemberAdded):
        return "campaign", f"Kampagne {_quote(event.campaign_name)} zugeordnet", event.campaign_id
    if isinstance(event, CampaignMemberRemoved):
        summary = f"Kampagne {_quote(event.campaign_name)} nicht mehr zugeordnet"
        return "campaign", summary, event.campaign_id
    return None


def _opportunity(event: EventData) -> tuple[str, str, str | None] | None:
    if isinstance(event, OpportunityCreated):
        summary = f"Verkaufschance angelegt: {event.title} ({event.crm_status})"
        return "opportunity", summary, event.opportunity_id
    if isinstance(event, OpportunityUpdated):
        summary = f"Verkaufschance geändert: {event.title} ({event.crm_status})"
        return "opportunity", summary, event.opportunity_id
    if isinstance(event, OpportunityDeleted):
        return "opportunity", "Verkaufschance gelöscht", event.opportunity_id
    return None


_PROJECTIONS: tuple[Callable[[EventData], tuple[str, str, str | None] | None], ...] = (
    _history,
    _contact,
    _interaction,
    _procedure,
    _campaign,
    _opportunity,
)


def source_of(event: CloudEvent) -> str:
    """The producing service's short name: ``/crm/interactions`` → ``interactions``."""
    return event.source.removeprefix("/crm/")


@dataclass(frozen=True)
class Item:
    """A timeline item as a plain value (cheap to build in bulk; a row of TimelineItem)."""

    id: str
    contact_id: str
    at: datetime
    type: str
    source: str
    summary: str
    ref_id: str | None

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "contact_id": self.contact_id,
            "at": self.at,
            "type": self.type,
            "source": self.source,
            "summary": self.summary,
            "ref_id": self.ref_id,
        }


def item_for(event_id: str, at: datetime, source: str, payload: EventData) -> Item | None:
    """The item for a payload with its event id, time and producing service."""
    for projection in _PROJECTIONS:
        found = projection(payload)
        if found is not None:
            kind, summary, ref_id = found
            contact_id = str(payload.contact_id)  # type: ignore[attr-defined]
            return Item(event_id, contact_id, at, kind, source, summary[:500], ref_id)
    return None


def timeline_item(event: CloudEvent, payload: EventData) -> Item | None:
    """The timeline item an event adds, or None for events the timeline does not show."""
    return item_for(event.id, event.time, source_of(event), payload)
