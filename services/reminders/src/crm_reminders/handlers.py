"""Kafka subscribers of the reminders service (thin: rules live in the service)."""

from __future__ import annotations

from collections.abc import Sequence

from crm_reminders.deps import RemindersDeps
from crm_reminders.service import ReminderService
from crm_shared.consumer import Delivery, EventConsumer
from crm_shared.events import (
    ContactDeleted,
    InteractionDeleted,
    InteractionLogged,
    InteractionUpdated,
    ProcedureData,
    StaffData,
    Topic,
)


def consumers(deps: RemindersDeps) -> Sequence[EventConsumer]:
    runtime = deps.runtime

    def service(delivery: Delivery) -> ReminderService:
        return deps.service(delivery.tx)

    async def on_procedure(delivery: Delivery) -> None:
        await service(delivery).apply_procedure(
            delivery.payload_as(ProcedureData), delivery.event.id
        )

    async def on_interaction(delivery: Delivery) -> None:
        payload = delivery.payload
        assert isinstance(payload, InteractionLogged | InteractionUpdated)  # noqa: S101
        await service(delivery).apply_interaction(payload, delivery.event.id)

    async def on_interaction_deleted(delivery: Delivery) -> None:
        interaction_id = delivery.payload_as(InteractionDeleted).interaction_id
        await service(delivery).interaction_deleted(interaction_id)

    async def on_staff(delivery: Delivery) -> None:
        await service(delivery).apply_staff(delivery.payload_as(StaffData))

    async def on_contact_deleted(delivery: Delivery) -> None:
        await service(delivery).erase_contact(delivery.payload_as(ContactDeleted).contact_id)

    return [
        runtime.consumer(
            Topic.PROCEDURES,
            {
                "ProcedurePlanned": on_procedure,
                "ProcedureRescheduled": on_procedure,
                "ProcedureCompleted": on_procedure,
            },
        ),
        runtime.consumer(
            Topic.INTERACTIONS,
            {
                "InteractionLogged": on_interaction,
                "InteractionUpdated": on_interaction,
                "InteractionDeleted": on_interaction_deleted,
            },
        ),
        runtime.consumer(Topic.STAFF, {"StaffCreated": on_staff, "StaffUpdated": on_staff}),
        runtime.consumer(Topic.CONTACTS, {"ContactDeleted": on_contact_deleted}),
    ]
