"""Prometheus metrics: one registry per process, served at `/metrics`.

No label ever holds personal data or an identifier of a melding, disclosure or partner: only
service and consumer names, topics and partitions, HTTP route templates (`/v1/x/{id}`, never
the path itself), recipient kinds, outcomes, entry types, lifecycle steps, HTTP statuses and
policy revisions.
`tests/test_observability.py` checks every label value that appears.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.audit.entry import Draft

HTTP_REQUESTS = Counter(
    "kmt_http_requests", "HTTP requests answered", ["service", "method", "route", "status"]
)
HTTP_SECONDS = Histogram(
    "kmt_http_request_seconds", "Time to answer an HTTP request", ["service", "method", "route"]
)
DECISIONS = Counter(
    "kmt_decisions",
    "Decisions recorded in the ledger, by recipient, outcome and policy revision",
    ["recipient", "outcome", "policy_revision"],
)
DISCLOSURES = Counter(
    "kmt_disclosures",
    "Disclosure steps recorded in the ledger: created, held_for_review, approved, rejected,"
    " released, acknowledged",
    ["recipient", "step"],
)
ALERTS = Counter("kmt_alerts", "Acute-danger alerts recorded in the ledger")
LEDGER_ENTRIES = Counter("kmt_ledger_entries", "Ledger entries appended, by type", ["type"])
CHECKPOINT_AGE = Gauge(
    "kmt_ledger_checkpoint_age_seconds", "Seconds since the ledger's last signed checkpoint"
)
CONSUMER_LAG = Gauge(
    "kmt_consumer_lag",
    "Records on a partition not yet consumed by the group",
    ["group", "topic", "partition"],
)
RETRYING = Gauge("kmt_records_retrying", "Records being retried now", ["consumer"])
RETRY_SECONDS = Gauge(
    "kmt_record_retry_seconds",
    "How long the longest retried record has been failing",
    ["consumer"],
)
DEAD_LETTERS = Counter(
    "kmt_dead_letters", "Records set aside on the dead-letter topic", ["consumer", "topic"]
)
POLICY_STEPS = Counter(
    "kmt_policy_steps",
    "Policy lifecycle steps asked of the operator API, by step and outcome (done, refused,"
    " not_announced, failed)",
    ["step", "outcome"],
)
BUNDLE_REQUESTS = Counter(
    "kmt_policy_bundle_requests",
    "Bundle requests the bundle server answered, by status",
    ["status"],
)
BUNDLE_LONG_POLLS = Counter(
    "kmt_policy_bundle_long_polls",
    "Long polls the bundle server held, by how they ended (switched, expired)",
    ["ended"],
)


def set_lag(group: str, topic: str, partition: int, highwater: int | None, position: int) -> None:
    """A partition's lag: records after `position` (the next the group will read) up to its
    `highwater` (the next offset the broker will give), when the consumer knows it."""
    if highwater is not None:
        CONSUMER_LAG.labels(group, topic, str(partition)).set(max(highwater - position, 0))


def exposition() -> tuple[bytes, str]:
    """The registry in Prometheus' text format, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


async def metrics_endpoint(_: Request) -> Response:
    body, kind = exposition()
    return Response(body, media_type=kind)


class HttpMetrics:
    """ASGI middleware counting requests by route template and status."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "onbekend"
            method = scope["method"]
            HTTP_REQUESTS.labels(self.service, method, route, str(status[0])).inc()
            HTTP_SECONDS.labels(self.service, method, route).observe(time.perf_counter() - started)


REVIEW_STEPS = {True: "approved", False: "rejected"}


def count_recorded(drafts: Sequence[Draft]) -> None:
    """Count entries newly appended to the ledger (never a redelivered event's again): what
    was decided and disclosed, by category only."""
    for draft in drafts:
        LEDGER_ENTRIES.labels(draft.type).inc()
        recipient = draft.recipient or "geen"
        if draft.type == "decision":
            outcome = "delen" if draft.allow else "niet_delen"
            DECISIONS.labels(recipient, outcome, draft.policy_revision or "onbekend").inc()
        elif draft.type == "disclosure":
            DISCLOSURES.labels(recipient, "created").inc()
            if "review:human" in draft.obligations:
                DISCLOSURES.labels(recipient, "held_for_review").inc()
        elif draft.type == "review":
            DISCLOSURES.labels(recipient, REVIEW_STEPS[bool(draft.allow)]).inc()
        elif draft.type == "release":
            DISCLOSURES.labels(recipient, "released").inc()
        elif draft.type == "ack":
            DISCLOSURES.labels(recipient, "acknowledged").inc()
        elif draft.type == "alert":
            ALERTS.inc()
