"""Event contracts: topics, the CloudEvents 1.0 envelope and every typed event payload.

Every event of CONTRACT.md is a subclass of :class:`EventData` registered under its
name, one module per owning service. On Kafka an event is one CloudEvent in structured
mode (``content-type: application/cloudevents+json``) keyed by its subject — the contact
id, so one contact's events stay in order. Schemas live here once; the AsyncAPI document
(``docs/asyncapi.json``) is generated from them.
"""

from crm_shared.events.base import (
    CLOUDEVENTS_CONTENT_TYPE,
    CloudEvent,
    EventData,
    MalformedEventError,
    Topic,
    UnknownEventError,
    all_topics,
    dead_letter_topic,
    derived_event_id,
    event,
    event_type,
    make_event,
    parse_cloudevent,
    registered_events,
    utcnow,
)
from crm_shared.events.campaigns import (
    CampaignCreated,
    CampaignMemberAdded,
    CampaignMemberRemoved,
    CampaignRetired,
    OpportunityCreated,
    OpportunityDeleted,
    OpportunitySnapshot,
    OpportunityUpdated,
)
from crm_shared.events.common import (
    Assignment,
    ContactKind,
    ContactStatus,
    InteractionKind,
    Language,
    StaffRef,
)
from crm_shared.events.contacts import (
    ContactAssigned,
    ContactCreated,
    ContactDeleted,
    ContactSnapshot,
    ContactStatusChanged,
    ContactUpdated,
    CrmProperties,
    GroupChanged,
)
from crm_shared.events.history import (
    HistoryEntryCreated,
    HistoryEntryData,
    HistoryEntryDeleted,
    HistoryEntryUpdated,
)
from crm_shared.events.interactions import (
    ContactCopy,
    InteractionDeleted,
    InteractionLogged,
    InteractionUpdated,
    PortalMessageReceived,
    ProcedureCompleted,
    ProcedureData,
    ProcedurePlanned,
    ProcedureRescheduled,
)
from crm_shared.events.notifications import (
    EmailFailed,
    EmailRequested,
    EmailSent,
    NotificationPushed,
)
from crm_shared.events.reminders import (
    ReminderCleared,
    ReminderCreated,
    ReminderData,
    ReminderDue,
)
from crm_shared.events.staff import CompetenceChanged, StaffCreated, StaffData, StaffUpdated

__all__ = [
    "CLOUDEVENTS_CONTENT_TYPE",
    "Assignment",
    "CampaignCreated",
    "CampaignMemberAdded",
    "CampaignMemberRemoved",
    "CampaignRetired",
    "CloudEvent",
    "CompetenceChanged",
    "ContactAssigned",
    "ContactCopy",
    "ContactCreated",
    "ContactDeleted",
    "ContactKind",
    "ContactSnapshot",
    "ContactStatus",
    "ContactStatusChanged",
    "ContactUpdated",
    "CrmProperties",
    "EmailFailed",
    "EmailRequested",
    "EmailSent",
    "EventData",
    "GroupChanged",
    "HistoryEntryCreated",
    "HistoryEntryData",
    "HistoryEntryDeleted",
    "HistoryEntryUpdated",
    "InteractionDeleted",
    "InteractionKind",
    "InteractionLogged",
    "InteractionUpdated",
    "Language",
    "MalformedEventError",
    "NotificationPushed",
    "OpportunityCreated",
    "OpportunityDeleted",
    "OpportunitySnapshot",
    "OpportunityUpdated",
    "PortalMessageReceived",
    "ProcedureCompleted",
    "ProcedureData",
    "ProcedurePlanned",
    "ProcedureRescheduled",
    "ReminderCleared",
    "ReminderCreated",
    "ReminderData",
    "ReminderDue",
    "StaffCreated",
    "StaffData",
    "StaffRef",
    "StaffUpdated",
    "Topic",
    "UnknownEventError",
    "all_topics",
    "dead_letter_topic",
    "derived_event_id",
    "event",
    "event_type",
    "make_event",
    "parse_cloudevent",
    "registered_events",
    "utcnow",
]
