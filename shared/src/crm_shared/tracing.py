"""OpenTelemetry traces across HTTP → outbox → Kafka → consumer → SMTP, off by default.

On when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``…_TRACES_ENDPOINT``) is set, unless
``OTEL_SDK_DISABLED=true``; spans go by OTLP/HTTP with the SDK's standard settings
(``OTEL_SERVICE_NAME``, ``OTEL_TRACES_SAMPLER``…). The context crosses Kafka inside the
event: the CloudEvent's ``traceparent`` (and ``tracestate``) extension attributes of the
CloudEvents distributed-tracing extension, written when the outbox takes the event and
read by the consumer. Off, every function here is a no-op and events carry nothing extra.

Call sites stay one line each: :func:`configure` and :func:`instrument_app` in
``crm_shared.service``, :func:`stamp` in the outbox, :func:`consuming` in the consumer,
:func:`client_span` around an SMTP send and the gateway's call to a service (with
:func:`inject` putting its ``traceparent`` into the request).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from fastapi import FastAPI
from opentelemetry import propagate, trace
from opentelemetry.trace import Link, SpanKind

from crm_shared.events import CloudEvent

_TRACER_NAME = "crm"
_EXCLUDED_URLS = "healthz,readyz,metrics"  # probes and scrapes: noise, not traces
_enabled = False


def enabled() -> bool:
    """Whether this process exports traces."""
    return _enabled


def wanted() -> bool:
    """Whether the environment asks for traces."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def configure(service_name: str) -> bool:
    """Set the SDK up once for this process (a no-op unless :func:`wanted`)."""
    global _enabled
    if _enabled or not wanted():
        return _enabled
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or f"crm-{service_name}"
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _enabled = True
    return True


def shutdown() -> None:
    """Export what is left (at a service's stop)."""
    provider = trace.get_tracer_provider()
    if _enabled and hasattr(provider, "shutdown"):
        provider.shutdown()


def instrument_app(app: FastAPI) -> None:
    """A server span per request, continuing a caller's ``traceparent`` header."""
    if _enabled:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, excluded_urls=_EXCLUDED_URLS)


def inject(headers: dict[str, str]) -> None:
    """The current span's context into ``headers`` (``traceparent``), so the service
    called continues the trace (the gateway's proxy, inside its :func:`client_span`)."""
    if _enabled:
        propagate.inject(headers)


def _tracer() -> trace.Tracer:
    return trace.get_tracer(_TRACER_NAME)


def stamp(event: CloudEvent, topic: str) -> None:
    """A producer span for an event the outbox takes, its context stamped into the
    event (``traceparent``) so that the consumers continue the trace."""
    if not _enabled:
        return
    with _tracer().start_as_current_span(
        f"{topic} publish",
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "kafka",
            "messaging.destination.name": topic,
            "messaging.message.id": event.id,
            "cloudevents.event_type": event.type,
        },
    ):
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        for key, value in carrier.items():
            setattr(event, key, value)  # CloudEvent extension attributes


def _context_of(event: CloudEvent) -> Any:
    carrier = {
        key: value
        for key in ("traceparent", "tracestate")
        if isinstance(value := getattr(event, key, None), str)
    }
    return propagate.extract(carrier)


def consuming(
    events: Sequence[CloudEvent], *, topic: str, group: str
) -> AbstractContextManager[Any]:
    """A consumer span for applying one event (or a run of them: the first one's trace
    continues, the others are linked)."""
    if not _enabled or not events:
        return nullcontext()
    first, rest = events[0], events[1:]
    links = [Link(trace.get_current_span(_context_of(e)).get_span_context()) for e in rest]
    return _tracer().start_as_current_span(
        f"{topic} process",
        context=_context_of(first),
        kind=SpanKind.CONSUMER,
        links=links,
        attributes={
            "messaging.system": "kafka",
            "messaging.destination.name": topic,
            "messaging.consumer.group.name": group,
            "messaging.message.id": first.id,
            "messaging.batch.message_count": len(events),
            "cloudevents.event_type": first.type,
        },
    )


def client_span(name: str, **attributes: str) -> AbstractContextManager[Any]:
    """A client span around a call to another server (the SMTP send)."""
    if not _enabled:
        return nullcontext()
    return _tracer().start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes)
