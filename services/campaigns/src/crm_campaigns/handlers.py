"""Kafka subscribers of the campaigns service (thin: rules live in the services)."""

from __future__ import annotations

from collections.abc import Sequence

from crm_campaigns.campaigns.service import CampaignService
from crm_campaigns.contact_copies.service import ContactCopyService
from crm_campaigns.deps import CampaignsDeps
from crm_campaigns.opportunities.service import OpportunityService
from crm_shared.consumer import Bulk, Delivery, EventConsumer
from crm_shared.events import ContactDeleted, ContactSnapshot, Topic


def consumers(deps: CampaignsDeps) -> Sequence[EventConsumer]:
    runtime = deps.runtime

    async def on_contacts(deliveries: Sequence[Delivery]) -> None:
        """A run of contact events: one upsert of the copies, then the opportunities of
        those contacts (or of their companies) follow."""
        session = deliveries[0].tx
        snapshots = [d.payload_as(ContactSnapshot) for d in deliveries]
        await ContactCopyService(session, runtime).apply(snapshots)
        contact_ids = [snapshot.contact_id for snapshot in snapshots]
        await OpportunityService(session, runtime).follow_contacts(contact_ids)

    on_contact = Bulk(on_contacts)

    async def on_contact_deleted(delivery: Delivery) -> None:
        """GDPR: the contact's opportunities and memberships go (each with its event), a
        tombstone stays, and the opportunities of its persons lose its company facts."""
        contact_id = delivery.payload_as(ContactDeleted).contact_id
        opportunities = OpportunityService(delivery.tx, runtime)
        await opportunities.erase_contact(contact_id)
        await CampaignService(delivery.tx, runtime).erase_contact(contact_id)
        await ContactCopyService(delivery.tx, runtime).erase(contact_id)
        await opportunities.follow_contacts([contact_id])

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
