"""Kafka subscribers of the contacts service (thin): the local copies it keeps of staff
and competences (crm.staff), campaign memberships and the CRM admin lists
(crm.campaigns) and the filterable fields of history entries (crm.history)."""

from __future__ import annotations

from collections.abc import Sequence

from crm_contacts.deps import ContactsDeps
from crm_contacts.repository import ContactRepository
from crm_contacts.service import ContactService
from crm_shared.consumer import Bulk, Delivery, EventConsumer
from crm_shared.events import (
    CampaignMemberAdded,
    CampaignMemberRemoved,
    CompetenceChanged,
    CrmSettingsChanged,
    HistoryEntryData,
    HistoryEntryDeleted,
    StaffData,
    Topic,
)

_HISTORY_FIELDS = (
    "entry_id",
    "contact_id",
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
)


def consumers(deps: ContactsDeps) -> Sequence[EventConsumer]:
    runtime = deps.runtime

    async def on_staff(delivery: Delivery) -> None:
        staff = delivery.payload_as(StaffData)
        await ContactRepository(delivery.tx).upsert_staff(staff.staff_id, staff.name, staff.active)

    async def on_competence(delivery: Delivery) -> None:
        competence = delivery.payload_as(CompetenceChanged)
        await ContactRepository(delivery.tx).upsert_competence(
            competence.competence_id, competence.name, competence.member_ids
        )

    async def on_member_added(delivery: Delivery) -> None:
        member = delivery.payload_as(CampaignMemberAdded)
        repo = ContactRepository(delivery.tx)
        await repo.set_campaign_member(member.campaign_id, member.contact_id, True)

    async def on_member_removed(delivery: Delivery) -> None:
        member = delivery.payload_as(CampaignMemberRemoved)
        repo = ContactRepository(delivery.tx)
        await repo.set_campaign_member(member.campaign_id, member.contact_id, False)

    async def on_crm_settings(delivery: Delivery) -> None:
        settings = delivery.payload_as(CrmSettingsChanged)
        await ContactService(delivery.tx, runtime.outbox).apply_crm_settings(settings)

    async def on_history_entries(deliveries: Sequence[Delivery]) -> None:
        # a bulk job writes 100,000 entries in a row: one upsert per run, not a read and
        # a write per entry (which kept the history filters minutes behind such a job)
        rows = [
            {name: getattr(entry, name) for name in _HISTORY_FIELDS}
            for entry in (d.payload_as(HistoryEntryData) for d in deliveries)
        ]
        await ContactRepository(deliveries[0].tx).upsert_history_entries(rows)

    on_history_entry = Bulk(on_history_entries)

    async def on_history_deleted(delivery: Delivery) -> None:
        entry = delivery.payload_as(HistoryEntryDeleted)
        await ContactRepository(delivery.tx).delete_history_entry(entry.entry_id)

    return [
        runtime.consumer(
            Topic.STAFF,
            {
                "StaffCreated": on_staff,
                "StaffUpdated": on_staff,
                "CompetenceChanged": on_competence,
            },
        ),
        runtime.consumer(
            Topic.CAMPAIGNS,
            {
                "CampaignMemberAdded": on_member_added,
                "CampaignMemberRemoved": on_member_removed,
                "CrmSettingsChanged": on_crm_settings,
            },
        ),
        runtime.consumer(
            Topic.HISTORY,
            {
                "HistoryEntryCreated": on_history_entry,
                "HistoryEntryUpdated": on_history_entry,
                "HistoryEntryDeleted": on_history_deleted,
            },
        ),
    ]
