"""Issue 9 item 14 against the real broker: a KMT worker's read of the review queue becomes
`audit_access` entries naming the worker and each melding shown, also when sharing could not
publish at the moment of the read; a forged read is dead-lettered and recorded nowhere."""

from __future__ import annotations

import copy
import json
import uuid
from collections import Counter
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
import pytest

from services.common.events import STAFF_ACCESSED, new_event
from services.common.models import StaffAccessed
from services.common.topics import DECISIONS, DISCLOSURES
from services.observability.tracing import trace_id_of
from tests.stack import Stack, eventually, read_events, send, submission
from tests.test_crash_windows import restore_sharing_write, sharing_store, withdraw_sharing_write
from tests.test_forgeries import letters_with

pytestmark = pytest.mark.integration
WORKER_ID = "staff:demo-kmt-medewerker"


def review_queue(stack: Stack) -> list[dict[str, Any]]:
    worker = {"Authorization": f"Bearer {stack.worker_token}"}
    response = httpx.get(f"{stack.url('sharing')}/v1/reviews", headers=worker, timeout=10)
    assert response.status_code == 200
    return list(response.json())


def waiting_for_review(stack: Stack) -> str:
    """A melding whose Veilig Thuis disclosure waits for a KMT worker (age unknown)."""
    unknown_age = copy.deepcopy(submission("10.json"))
    unknown_age["victim"].pop("birth_date", None)
    unknown_age["signals"]["minors_in_household"] = False
    melding_id = stack.submit(unknown_age)
    eventually(lambda: [q for q in review_queue(stack) if q["melding_id"] == melding_id])
    return melding_id


def reads(stack: Stack) -> list[dict[str, Any]]:
    """The `staff.accessed` events on the disclosures topic, in publication order (one
    worker's reads share a key, so a partition)."""
    return [e for e in read_events(stack.settings, DISCLOSURES) if e["type"] == STAFF_ACCESSED]


def last_read(stack: Stack) -> dict[str, Any] | None:
    found = reads(stack)
    return found[-1] if found else None


def read_trace(read: dict[str, Any]) -> str:
    """The trace id a read's entries carry: its `traceparent`'s, else its event id."""
    return trace_id_of(read.get("traceparent")) or str(read["id"])


def accesses(stack: Stack, melding_id: str, read: dict[str, Any]) -> list[dict[str, Any]]:
    """The melding's `audit_access` entries of one read, as the privacy officer sees them."""
    return [
        e
        for e in stack.audit_entries(melding_id)
        if e["type"] == "audit_access" and e["trace_id"] == read_trace(read)
    ]


def test_a_workers_read_of_the_review_queue_is_in_the_trail_of_every_melding_shown(
    stack: Stack,
) -> None:
    first, second = waiting_for_review(stack), waiting_for_review(stack)
    shown = review_queue(stack)
    shown_ids = list(dict.fromkeys(q["melding_id"] for q in shown))
    assert {first, second} <= set(shown_ids)

    mine = eventually(
        lambda: (r := last_read(stack)) and r["data"]["melding_ids"] == shown_ids and r
    )
    assert mine["data"]["actor"] == WORKER_ID and mine["data"]["read"] == "sharing.reviews"
    assert mine["subject"] == WORKER_ID  # keyed by who read, not by a melding
    for melding_id in shown_ids:
        (entry,) = eventually(partial(accesses, stack, melding_id, mine))
        assert (entry["actor"], entry["event_type"], entry["melding_id"]) == (
            WORKER_ID, "sharing.reviews", melding_id)  # fmt: skip
    # every read is in the trail, the polls of waiting_for_review too: each read that
    # showed the melding is one access entry of it
    showed_first = {read_trace(r) for r in reads(stack) if first in r["data"]["melding_ids"]}

    def recorded() -> Counter[str] | None:
        found = Counter(e["trace_id"] for e in stack.audit_entries(first)
                        if e["type"] == "audit_access" and e["actor"] == WORKER_ID)  # fmt: skip
        return found if set(found) == showed_first else None

    assert set(eventually(recorded).values()) == {1}


def test_a_read_while_sharing_cannot_publish_is_recorded_once_it_can(stack: Stack) -> None:
    melding_id = waiting_for_review(stack)
    withdraw_sharing_write(stack.settings)
    try:
        shown = review_queue(stack)  # answered: the read is committed in sharing's outbox
        assert melding_id in {q["melding_id"] for q in shown}
        (waiting,) = sharing_store(
            stack, "SELECT event_id, event FROM outgoing WHERE event LIKE ?", f"%{STAFF_ACCESSED}%"
        )
        read_id, event = waiting
        assert melding_id in event
        assert read_id not in {r["id"] for r in reads(stack)}
        assert accesses(stack, melding_id, json.loads(event)) == []
    finally:
        restore_sharing_write(stack.settings)
    # the running relay retries until the broker takes it; audit then records it, once
    (entry,) = eventually(lambda: accesses(stack, melding_id, json.loads(event)), timeout=90)
    assert entry["actor"] == WORKER_ID
    assert [r["id"] for r in reads(stack)].count(read_id) == 1
    assert sharing_store(stack, "SELECT 1 FROM outgoing WHERE event_id = ?", read_id) == []


def test_a_forged_read_is_dead_lettered_and_recorded_nowhere(stack: Stack) -> None:
    melding_id = waiting_for_review(stack)

    def forged(actor: str) -> Any:
        data = StaffAccessed(actor=actor, read="sharing.reviews",
                             melding_ids=[uuid.UUID(melding_id)], at=datetime.now(UTC))  # fmt: skip
        return new_event(type=STAFF_ACCESSED, source="kmt/sharing", subject=actor, data=data)

    # On sharing's topic with another service's key, or with none; and with routing's key on
    # routing's own topic, which audit reads but where a staff read never travels.
    send(stack.settings, DISCLOSURES, forged("staff:vervalst-routing"), sign_as="routing")
    send(stack.settings, DISCLOSURES, forged("staff:vervalst-ongetekend"))
    send(stack.settings, DECISIONS, forged("staff:vervalst-eigen-topic"), sign_as="routing")
    eventually(lambda: letters_with(stack, "maar dit topic is van 'sharing'"), timeout=30)
    eventually(lambda: letters_with(stack, "niet ondertekend"), timeout=30)

    def refused_by_audit_on_decisions() -> list[dict[str, Any]]:
        return [
            d
            for d in letters_with(stack, "onverwacht eventtype 'nl.kmt.staff.accessed'")
            if d["consumer"] == "audit" and d["topic"] == stack.settings.topic(DECISIONS)
        ]

    eventually(refused_by_audit_on_decisions, timeout=30)
    # audit has handled (dead-lettered) all three: none of them is in the trail
    actors = {e["actor"] for e in stack.audit_entries(melding_id) if e["type"] == "audit_access"}
    assert not {a for a in actors if "vervalst" in a}, actors
