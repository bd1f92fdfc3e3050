"""One trace per melding, from the partner to the recipient (OpenTelemetry).

- Every service makes spans with the SDK and samples all of them: Logboek Dataverwerkingen
  forbids sampling, and a melding's trace id must be there for every step. Spans are exported
  over OTLP/HTTP only when `KMT_OTLP_TRACES_ENDPOINT` is set.
- HTTP: the FastAPI instrumentation continues a caller's W3C `traceparent` (a partner's, at
  intake) or starts a trace.
- Kafka: an event carries the context of the step that emitted it as CloudEvents'
  `traceparent` (inside the signed value, kept in the outboxes); the publisher copies it into
  the record header `traceparent`, which the event signature covers too
  (`services.bus.signing`), and the consumer continues that trace in a span per record.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import Link, Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

HEADER = "traceparent"
PROPAGATOR = TraceContextTextMapPropagator()
_provider: list[TracerProvider] = []


def setup(service: str, endpoint: str) -> TracerProvider:
    """The process's tracer provider (made once): every span sampled, exported to `endpoint`
    (OTLP/HTTP, e.g. `http://collector:4318/v1/traces`) when one is given."""
    if not _provider:
        provider = TracerProvider(
            resource=Resource.create({"service.name": f"kmt-{service}"}), sampler=ALWAYS_ON
        )
        if endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        trace.set_tracer_provider(provider)
        _provider.append(provider)
    return _provider[0]


def shutdown() -> None:
    """Export what is still buffered (a stopping service)."""
    for provider in _provider:
        provider.shutdown()


def tracer() -> trace.Tracer:
    return trace.get_tracer("kmt")


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the span now running, or None outside any trace."""
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier)
    return carrier.get(HEADER)


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id (32 hex) of a `traceparent`."""
    return traceparent.split("-")[1] if traceparent else None


def span_id_of(traceparent: str | None) -> str | None:
    """The span id (16 hex) of a `traceparent`: the operation that made the call."""
    return traceparent.split("-")[2] if traceparent else None


def context_of(traceparent: str | None) -> Context | None:
    """The context to continue, or None (the current one) when there is no `traceparent`."""
    return PROPAGATOR.extract({HEADER: traceparent}) if traceparent else None


def header_traceparent(headers: Sequence[tuple[str, bytes]]) -> str | None:
    for name, raw in headers:
        if name == HEADER:
            return raw.decode(errors="replace")
    return None


@contextlib.contextmanager
def step(
    name: str,
    traceparent: str | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: dict[str, Any] | None = None,
) -> Iterator[Span]:
    """A span, current while the block runs, continuing `traceparent` (else the current
    trace, else a new one). Attributes hold ids and categories only, never personal data."""
    with tracer().start_as_current_span(
        name, context=context_of(traceparent), kind=kind, attributes=attributes
    ) as span:
        yield span


@contextlib.contextmanager
def batch_spans(service: str, records: Sequence[Any]) -> Iterator[None]:
    """A consumer span per record of a batch handled in one call, each continuing its own
    record's trace and lasting as long as the batch (none of them current: the handler
    stamps what it emits from each event's own `traceparent`)."""
    spans = [
        tracer().start_span(
            f"{service} {record.topic}",
            context=context_of(header_traceparent(record.headers)),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.destination.name": record.topic,
                "messaging.kafka.offset": record.offset,
            },
        )
        for record in records
    ]
    try:
        yield
    finally:
        for span in spans:
            span.end()


def foreign_operation(traceparent: str | None) -> str | None:
    """A caller's `traceparent` worth keeping: one the trace was continued from (well-formed,
    not all zeros), lower case as W3C writes it; None otherwise."""
    if not traceparent:
        return None
    carried = trace.get_current_span(PROPAGATOR.extract({HEADER: traceparent})).get_span_context()
    if not carried.is_valid:
        return None
    return f"00-{carried.trace_id:032x}-{carried.span_id:016x}-{carried.trace_flags:02x}"


def in_traces(name: str, traceparents: Iterable[str | None]) -> None:
    """Mark the step now running (a partner's fetch) in each of the given traces (the
    meldingen it touched) with a short span linked to it, so each melding's trace shows it."""
    current = trace.get_current_span().get_span_context()
    links = [Link(current)] if current.is_valid else []
    for traceparent in dict.fromkeys(traceparents):
        if traceparent:
            tracer().start_span(name, context=context_of(traceparent), links=links).end()
