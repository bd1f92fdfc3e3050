"""The topics of the event path, with explicit partitions and retention."""

from __future__ import annotations

from dataclasses import dataclass

MELDINGEN = "kmt.meldingen.v1"
DECISIONS = "kmt.decisions.v1"
DISCLOSURES = "kmt.disclosures.v1"
AUDIT_RECEIPTS = "kmt.audit.receipts.v1"
POLICY = "kmt.policy.v1"
DEAD_LETTER = "kmt.deadletter.v1"

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int


# Three partitions each: room for three workers per consumer group; all keyed by melding_id.
# Retention covers a long outage of any consumer; the ledger, not Kafka, is the record.
TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(MELDINGEN, 3, 30 * DAY_MS),
    TopicSpec(DECISIONS, 3, 30 * DAY_MS),
    TopicSpec(DISCLOSURES, 3, 30 * DAY_MS),
    TopicSpec(AUDIT_RECEIPTS, 3, 30 * DAY_MS),
    TopicSpec(POLICY, 1, 365 * DAY_MS),
    TopicSpec(DEAD_LETTER, 1, 90 * DAY_MS),
)
