"""Kafka subscribers of the campaigns service (thin: rules live in the services)."""

from __future__ import annotations

from collections.abc import Sequence

from crm_campaigns.deps import CampaignsDeps
from crm_campaigns.opportunities import OpportunityService
from crm_campaigns.service import CampaignService
from crm_shared.consumer import Bulk, Delivery, EventConsumer
from crm_shared.events import ContactDeleted, ContactSnapshot, Topic


def consumers(deps: CampaignsDeps) -> Sequence[EventConsumer]:
    runtime = deps.runtime

    async def on_contacts(deliveries: Sequence[Delivery]) -> None:
        service = CampaignService(deliveries[0].tx, runtime.outbox)
        await service.apply_contacts([d.payload_as(ContactSnapshot) for d in deliveries])

    on_contact = Bulk(on_contacts)

    async def on_contact_deleted(delivery: Delivery) -> None:
        contact_id = delivery.payload_as(ContactDeleted).contact_id
        await OpportunityService(delivery.tx, runtime.outbox).erase_contact(contact_id)
        await CampaignService(delivery.tx, runtime.outbox).erase_contact(contact_id)

    return [
        runtime.consumer(
            Topic.CONTACTS,
            {
                "ContactCreated": on_contact,
                "ContactUpdated": on_contact,
                "ContactDeleted": on_contact_deleted,
            },
        ),
    ]
