"""Tracing is off unless configured, and then the context crosses Kafka in the event."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from crm_shared import tracing
from crm_shared.events import CloudEvent, ContactDeleted, make_event, parse_cloudevent


def _event() -> CloudEvent:
    return make_event(ContactDeleted(contact_id="c-1"), source="/crm/test")


def test_off_without_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert not tracing.wanted()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert tracing.wanted()
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not tracing.wanted()


def test_an_event_stamped_while_off_carries_nothing_extra() -> None:
    event = _event()
    before = event.to_bytes()
    tracing.stamp(event, "crm.contacts")
    assert event.to_bytes() == before


def test_the_consumer_span_continues_the_trace_stamped_into_the_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_enabled", True)
    monkeypatch.setattr(tracing, "_tracer", lambda: provider.get_tracer("crm"))
    event = _event()
    tracing.stamp(event, "crm.contacts")
    received = parse_cloudevent(event.to_bytes())  # as a consumer reads it off Kafka
    assert received.traceparent.startswith("00-")
    with (
        tracing.consuming([received], topic="crm.contacts", group="notifier"),
        tracing.client_span("smtp send"),
    ):
        pass
    publish, smtp, process = exporter.get_finished_spans()
    assert {s.context.trace_id for s in (publish, process, smtp)} == {publish.context.trace_id}
    assert process.parent.span_id == publish.context.span_id
    assert smtp.parent.span_id == process.context.span_id
    assert process.kind == trace.SpanKind.CONSUMER
