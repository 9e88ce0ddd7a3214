"""Kafka subscribers of the history service (thin: rules live in the service).

One consumer group (``history``) per topic: contact events keep the local contact copy
and the audit trail; every event about a contact adds its timeline item. The
history service's own events are not consumed: their timeline items are written in the
transaction of the entry itself (the replay reads ``crm.history`` too).
"""

from __future__ import annotations

from collections.abc import Sequence

from crm_history.deps import HistoryDeps
from crm_history.service import HistoryService
from crm_history.timeline import TIMELINE_TOPICS
from crm_shared.consumer import Bulk, Delivery, EventConsumer, Handler
from crm_shared.events import (
    ContactDeleted,
    ContactSnapshot,
    ContactStatusChanged,
    Topic,
    registered_events,
)


def consumers(deps: HistoryDeps) -> Sequence[EventConsumer]:
    runtime = deps.runtime

    def service(delivery: Delivery) -> HistoryService:
        return deps.service(delivery.tx)

    async def on_timeline_event(delivery: Delivery) -> None:
        await service(delivery).project(delivery.event, delivery.payload)

    async def audit(delivery: Delivery) -> None:
        await service(delivery).record_audit([(delivery.event, delivery.payload)])

    async def on_contacts(deliveries: Sequence[Delivery]) -> None:
        events = [(d.event, d.payload_as(ContactSnapshot)) for d in deliveries]
        await service(deliveries[0]).apply_contacts(events)
        await service(deliveries[0]).record_audit([(d.event, d.payload) for d in deliveries])

    async def on_status(delivery: Delivery) -> None:
        await service(delivery).apply_status(delivery.payload_as(ContactStatusChanged))
        await on_timeline_event(delivery)
        await audit(delivery)

    async def on_assigned(delivery: Delivery) -> None:
        await on_timeline_event(delivery)
        await audit(delivery)

    async def on_contact_deleted(delivery: Delivery) -> None:
        await service(delivery).erase_contact(delivery.payload_as(ContactDeleted).contact_id)
        await audit(delivery)  # the fact of the delete stays, without the person

    on_contact = Bulk(on_contacts)
    special: dict[str, Handler] = {
        "ContactCreated": on_contact,
        "ContactUpdated": on_contact,
        "ContactStatusChanged": on_status,
        "ContactAssigned": on_assigned,
        "ContactDeleted": on_contact_deleted,
    }
    by_topic: dict[Topic, dict[str, Handler]] = {t: {} for t in TIMELINE_TOPICS}
    for name, cls in registered_events().items():
        if cls.kafka_topic in by_topic:
            by_topic[cls.kafka_topic][name] = special.get(name, on_timeline_event)
    return [
        runtime.consumer(topic, handlers)
        for topic, handlers in by_topic.items()
        if topic != Topic.HISTORY
    ]
