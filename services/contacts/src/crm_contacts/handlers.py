"""Kafka subscribers of the contacts service (thin: each calls one ``ContactService``
method): the local copies it keeps of staff and competences (crm.staff), campaign
memberships and the CRM admin lists (crm.campaigns) and the filterable fields of history
entries (crm.history)."""

from __future__ import annotations

from collections.abc import Sequence

from crm_contacts.deps import ContactsDeps
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


def consumers(deps: ContactsDeps) -> Sequence[EventConsumer]:
    runtime = deps.runtime

    async def on_staff(delivery: Delivery) -> None:
        await deps.contacts(delivery.tx).apply_staff(delivery.payload_as(StaffData))

    async def on_competence(delivery: Delivery) -> None:
        await deps.contacts(delivery.tx).apply_competence(delivery.payload_as(CompetenceChanged))

    async def on_member_added(delivery: Delivery) -> None:
        member = delivery.payload_as(CampaignMemberAdded)
        await deps.contacts(delivery.tx).apply_campaign_member(
            member.campaign_id, member.contact_id, True
        )

    async def on_member_removed(delivery: Delivery) -> None:
        member = delivery.payload_as(CampaignMemberRemoved)
        await deps.contacts(delivery.tx).apply_campaign_member(
            member.campaign_id, member.contact_id, False
        )

    async def on_crm_settings(delivery: Delivery) -> None:
        settings = delivery.payload_as(CrmSettingsChanged)
        await deps.contacts(delivery.tx).apply_crm_settings(settings)

    async def on_history_entries(deliveries: Sequence[Delivery]) -> None:
        entries = [d.payload_as(HistoryEntryData) for d in deliveries]
        await deps.contacts(deliveries[0].tx).apply_history_entries(entries)

    on_history_entry = Bulk(on_history_entries)

    async def on_history_deleted(delivery: Delivery) -> None:
        entry = delivery.payload_as(HistoryEntryDeleted)
        await deps.contacts(delivery.tx).forget_history_entry(entry.entry_id)

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
