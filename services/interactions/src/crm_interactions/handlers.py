"""Kafka subscribers of the interactions service (thin: rules live in the service)."""

from __future__ import annotations

from collections.abc import Sequence

from crm_interactions.service import InteractionService
from crm_shared.consumer import Delivery, EventConsumer
from crm_shared.events import ContactDeleted, ContactSnapshot, Topic
from crm_shared.service import Runtime


def consumers(runtime: Runtime) -> Sequence[EventConsumer]:
    def service(delivery: Delivery) -> InteractionService:
        assert delivery.session is not None
        return InteractionService(delivery.session, runtime.outbox)

    async def on_contact(delivery: Delivery) -> None:
        assert isinstance(delivery.payload, ContactSnapshot)
        await service(delivery).apply_contact(delivery.payload)

    async def on_contact_deleted(delivery: Delivery) -> None:
        assert isinstance(delivery.payload, ContactDeleted)
        await service(delivery).erase_contact(delivery.payload.contact_id)

    return [
        runtime.consumer(Topic.CONTACTS, {
            "ContactCreated": on_contact,
            "ContactUpdated": on_contact,
            "ContactDeleted": on_contact_deleted,
        }),
    ]
