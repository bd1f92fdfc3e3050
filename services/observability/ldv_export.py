"""`kmt audit ldv-export`: LDV records of a period, from the ledger, to a file of JSON lines
and, when a Logboek is configured, over OTLP/HTTP (each record a span: the same trace and
span ids, the `dpl.core.*` attributes, the partner's operation as a link)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from services.audit.entry import Entry
from services.audit.ledger import Ledger, Query
from services.observability import ldv
from services.observability.register import Register

PAGE = 1000
OTLP_BATCH = 500


def _all(ledger: Ledger, query: Query) -> Iterator[Entry]:
    after = -1
    while page := ledger.search(replace(query, after=after, limit=PAGE)):
        yield from page
        after = page[-1].seq


def derive(
    ledger: Ledger, register: Register, since: str | None, until: str | None
) -> list[dict[str, Any]]:
    """The records of every step recorded in [since, until)."""
    entries = list(_all(ledger, Query(since=since, until=until)))
    melding_ids = sorted({e.melding_id for e in entries if e.melding_id})
    trail: dict[str, list[Entry]] = {}
    for entry in _all(ledger, Query(melding_ids=melding_ids)) if melding_ids else ():
        trail.setdefault(entry.melding_id or "", []).append(entry)
    found = list(ldv.records(entries, trail, register))
    for record in found:
        if wrong := ldv.problems(record):  # never send what the Logboek must refuse
            raise ValueError(f"LDV-record {record['span_id']} onvolledig: {'; '.join(wrong)}")
    return found


def _context(trace_id: str, span_id: str) -> SpanContext:
    return SpanContext(int(trace_id, 16), int(span_id, 16), False, TraceFlags(TraceFlags.SAMPLED))


def as_span(record: dict[str, Any]) -> ReadableSpan:
    parent = record.get("parent_span_id")
    foreign = record.get("foreign_operation")
    return ReadableSpan(
        name=record["name"],
        context=_context(record["trace_id"], record["span_id"]),
        parent=_context(record["trace_id"], parent) if parent else None,
        resource=Resource.create(record["resource"]["attributes"]),
        attributes=record["attributes"],
        links=(
            [
                Link(
                    _context(foreign["trace_id"], foreign["span_id"]),
                    {"dpl.core.foreign_operation.entity": foreign["entity"]},
                )
            ]
            if foreign
            else []
        ),
        kind=SpanKind.INTERNAL,
        status=Status(StatusCode.OK),
        start_time=record["start_time"] * 1_000_000,
        end_time=record["end_time"] * 1_000_000,
        instrumentation_scope=InstrumentationScope("kmt-ldv"),
    )


def send(records: Sequence[dict[str, Any]], endpoint: str) -> None:
    """Deliver to a Logboek's OTLP/HTTP endpoint; raises unless every batch was accepted."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(endpoint=endpoint, timeout=10)
    try:
        for start in range(0, len(records), OTLP_BATCH):
            batch = [as_span(r) for r in records[start : start + OTLP_BATCH]]
            if exporter.export(batch) is not SpanExportResult.SUCCESS:
                raise ConnectionError("het Logboek heeft de LDV-records niet bevestigd")
    finally:
        exporter.shutdown()  # type: ignore[no-untyped-call]
