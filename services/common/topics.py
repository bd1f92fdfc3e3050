"""The topics of the event path, with explicit partitions and retention."""

from __future__ import annotations

from dataclasses import dataclass

from services.common import events

MELDINGEN = "kmt.meldingen.v1"
DECISIONS = "kmt.decisions.v1"
DISCLOSURES = "kmt.disclosures.v1"
AUDIT_RECEIPTS = "kmt.audit.receipts.v1"
POLICY = "kmt.policy.v1"
POLICY_SWITCHES = "kmt.policy.switches.v1"
DEAD_LETTER = "kmt.deadletter.v1"
ALERTS = "kmt.alerts.v1"
STATUS = "kmt.status.v1"

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
    TopicSpec(POLICY_SWITCHES, 1, 365 * DAY_MS),  # one partition: one order for all
    TopicSpec(DEAD_LETTER, 1, 90 * DAY_MS),
    TopicSpec(ALERTS, 3, 30 * DAY_MS),
    TopicSpec(STATUS, 3, 30 * DAY_MS),
)

CARRIES: dict[str, frozenset[str]] = {
    MELDINGEN: frozenset({events.MELDING_RECEIVED}),
    DECISIONS: frozenset({events.SHARING_DECIDED}),
    DISCLOSURES: frozenset(
        {
            events.DISCLOSURE_CREATED,
            events.DISCLOSURE_RELEASED,
            events.DISCLOSURE_REVIEWED,
            events.DISCLOSURE_ACKNOWLEDGED,
            events.STAFF_ACCESSED,
        }
    ),
    AUDIT_RECEIPTS: frozenset({events.AUDIT_RECORDED}),
    POLICY: frozenset({events.POLICY_ACTIVATED}),
    POLICY_SWITCHES: frozenset({events.POLICY_SWITCHED}),
    DEAD_LETTER: frozenset({events.DEAD_LETTERED}),
    ALERTS: frozenset({events.ALERT_RAISED}),
    STATUS: frozenset({events.MELDING_STATUS}),
}
"""The event types each topic carries. A consumer takes a type only from its own topic: the
signature proves the topic's owner sent a record, so an event of another owner's type on a
topic (a routing-signed `disclosure.created` on the decisions topic) is refused."""


def carried_by(topic: str, prefix: str) -> frozenset[str]:
    """The event types a deployment's topic (its name with `prefix`) carries; none if unknown."""
    return CARRIES.get(topic.removeprefix(prefix), frozenset())
