"""Kafka subscribers of the interactions service (thin: each event to one method of the
copies' service; the other services' events keep the local copies)."""

from __future__ import annotations

from collections.abc import Sequence

from crm_interactions.copies.service import CopyService
from crm_interactions.deps import InteractionsDeps
from crm_shared.consumer import Bulk, Delivery, EventConsumer
from crm_shared.events import (
    CampaignCreated,
    CampaignRetired,
    ContactDeleted,
    ContactSnapshot,
    StaffData,
    Topic,
)


def consumers(deps: InteractionsDeps) -> Sequence[EventConsumer]:
    runtime = deps.runtime

    def service(delivery: Delivery) -> CopyService:
        return deps.copy_service(delivery.tx)

    async def on_contacts(deliveries: Sequence[Delivery]) -> None:
        snapshots = [delivery.payload_as(ContactSnapshot) for delivery in deliveries]
        await service(deliveries[0]).apply_contacts(snapshots)

    on_contact = Bulk(on_contacts)

    async def on_contact_deleted(delivery: Delivery) -> None:
        contact_id = delivery.payload_as(ContactDeleted).contact_id
        await service(delivery).erase_contact(contact_id)

    async def on_staff(delivery: Delivery) -> None:
        await service(delivery).apply_staff(delivery.payload_as(StaffData))

    async def on_campaign_created(delivery: Delivery) -> None:
        await service(delivery).apply_campaign_created(delivery.payload_as(CampaignCreated))

    async def on_campaign_retired(delivery: Delivery) -> None:
        await service(delivery).apply_campaign_retired(delivery.payload_as(CampaignRetired))

    return [
        runtime.consumer(
            Topic.CONTACTS,
            {
                "ContactCreated": on_contact,
                "ContactUpdated": on_contact,
                "ContactDeleted": on_contact_deleted,
            },
        ),
        runtime.consumer(Topic.STAFF, {"StaffCreated": on_staff, "StaffUpdated": on_staff}),
        runtime.consumer(
            Topic.CAMPAIGNS,
            {"CampaignCreated": on_campaign_created, "CampaignRetired": on_campaign_retired},
        ),
    ]
