"""The alert routing raises with a melding's decisions when the policies flag acute danger.

The policies compute `alerts` in every decision (`acuut gevaar: politie/112 eerst`, and in the
Veilig Thuis decision also `minderjarige in acuut gevaar: …`); routing turns them into one
`alert.raised` event per melding, published together with the decisions. Whether the victim
is a minor is the policy's judgement too: the Veilig Thuis decision carries an alert of its
own exactly then (its age rule, `data.kmt.config.adult_age`, is not repeated here).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from services.bus.consumer import Record
from services.bus.kafka import Publisher
from services.bus.signing import EventVerifier
from services.common.alert_event import AlertRaised, VeiligThuis
from services.common.events import (
    ALERT_RAISED,
    MELDING_RECEIVED,
    CloudEvent,
    derived_id,
    new_event,
    parse_data,
    parse_event,
)
from services.common.facts import MeldingReceived, PolicyFacts
from services.common.models import Decision
from services.common.topics import ALERTS

log = logging.getLogger(__name__)

REVIEW_HUMAN = "review:human"


def alert_of(
    event_id: str, melding: MeldingReceived, decisions: list[Decision], at: datetime, source: str
) -> CloudEvent | None:
    """The melding's `alert.raised` event, or None when no decision carries an alert. Its id
    derives from the melding event's, so a redelivered melding raises the same alert."""
    alerts = list(dict.fromkeys(a for d in decisions for a in d.alerts))
    if not alerts:
        return None
    veilig_thuis = next(d for d in decisions if d.recipient == "veilig_thuis")
    common = {a for d in decisions if d.recipient != "veilig_thuis" for a in d.alerts}
    minor = None if melding.facts.victim.age is None else bool(set(veilig_thuis.alerts) - common)
    data = AlertRaised(
        melding_id=melding.melding_id,
        alerts=alerts,
        minor=minor,
        municipality=melding.facts.municipality,
        veilig_thuis=_veilig_thuis(veilig_thuis),
        policy_revision=veilig_thuis.policy_revision,
        raised_at=at,
    )
    return new_event(
        type=ALERT_RAISED,
        source=source,
        subject=str(melding.melding_id),
        data=data,
        id=derived_id(event_id, "alert"),
    )


def _veilig_thuis(decision: Decision) -> VeiligThuis:
    if not decision.allow:
        return "niet"
    return "na_beoordeling" if REVIEW_HUMAN in decision.obligations else "direct"


async def raise_at_once(
    record: Record,
    verifier: EventVerifier,
    decide: Callable[[PolicyFacts], Awaitable[list[Decision]]],
    publisher: Publisher,
    topic_prefix: str,
    source: str,
) -> None:
    """The fast lane: the alert of an acute melding, now, decided as the ordinary path
    decides (`decide`); anything else is left to that path (which also dead-letters what is
    malformed)."""
    try:
        verifier.verify(record.topic, record.key, record.value, record.headers)
        event = parse_event(record.value, {MELDING_RECEIVED})
        melding = parse_data(event, MeldingReceived)
        if not melding.facts.signals.acute_danger:
            return
        decisions = await decide(melding.facts)
        alert = alert_of(event.id, melding, decisions, datetime.now(UTC), source)
        if alert is not None:
            await publisher.publish(f"{topic_prefix}{ALERTS}", alert)
    except Exception as exc:  # by type only; the ordinary path raises the alert as well
        log.info("routing: snelle baan slaat %s@%d over (%s)", record.topic, record.offset,
                 type(exc).__name__)  # fmt: skip
