"""Prometheus metrics shared by every service (exposed at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

OUTBOX_PUBLISHED = Counter("crm_outbox_published_total", "Outbox rows published to Kafka")
OUTBOX_PENDING = Gauge("crm_outbox_pending", "Outbox rows seen waiting at the last sweep")
EVENTS_CONSUMED = Counter(
    "crm_events_consumed_total", "Events consumed", ["topic", "type", "outcome"]
)
EVENT_HANDLE_SECONDS = Histogram(
    "crm_event_handle_seconds", "Time to handle one event (including retries)", ["topic"]
)
DEAD_LETTERS = Counter("crm_dead_letters_total", "Messages sent to a dead-letter topic", ["topic"])
