"""Invariant 7 against an attacker who holds valid broker credentials of another principal
(the test-only `forger`, granted write access to one topic) or the key of the wrong service:
forged, unsigned, wrongly signed, altered and re-keyed events go to the dead-letter topic with
the reason, nothing is created or released, and the stream goes on."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.events import AUDIT_RECORDED, SHARING_DECIDED, new_event
from services.common.models import AuditRecorded, Reason, SharingDecided
from services.common.topics import AUDIT_RECEIPTS, DEAD_LETTER, DECISIONS
from tests.stack import Stack, eventually, read_events, read_records, send, submission
from tests.test_end_to_end import complete_trail

pytestmark = pytest.mark.integration


def full_disclosure(
    melding_id: str, recipient: str = "gemeente_veiligheid", revision: str = "vals"
) -> Any:
    """The decision an attacker wants: everything, for a recipient the policy refused."""
    return new_event(
        type=SHARING_DECIDED,
        source="kmt/routing",
        subject=melding_id,
        data=SharingDecided(
            melding_id=uuid.UUID(melding_id),
            decided_at=datetime.now(UTC),
            recipient=recipient,  # type: ignore[arg-type]
            allow=True,
            purpose="aanval",
            legal_basis=["AVG art. 6 lid 1 sub e"],
            fields=["victim", "signals", "suspects"],
            obligations=[],
            reasons=[Reason(rule="vals", text="vals")],
            policy_revision=revision,
            municipality="almelo",
        ),
    )


def letters_with(stack: Stack, text: str) -> list[dict[str, Any]]:
    return [
        d["data"] for d in read_events(stack.settings, DEAD_LETTER) if text in d["data"]["reason"]
    ]


def gemeente_items(stack: Stack, melding_id: str) -> list[dict[str, Any]]:
    ref = stack.melding_ref(melding_id, "gemeente-almelo")
    return [i for i in stack.fetch_all("gemeente-almelo") if i["melding_ref"] == ref]


@pytest.fixture(scope="module")
def decided(stack: Stack) -> str:
    """A melding fully decided (RIEC yes, gemeente and Veilig Thuis no)."""
    melding_id = stack.submit(submission("02.json"))
    eventually(lambda: complete_trail(stack, melding_id), timeout=90)
    return melding_id


def test_an_unsigned_decision_is_dead_lettered_and_discloses_nothing(
    stack: Stack, decided: str
) -> None:
    send(stack.settings, DECISIONS, full_disclosure(decided))
    letters = eventually(lambda: letters_with(stack, "niet ondertekend"), timeout=30)
    assert {letter["consumer"] for letter in letters} >= {"sharing", "audit"}
    assert gemeente_items(stack, decided) == []
    decisions = [e for e in stack.audit_entries(decided) if e["type"] == "decision"]
    assert len(decisions) == 3, "de vervalsing kwam in de audittrail"


def test_a_decision_signed_by_another_service_is_refused(stack: Stack, decided: str) -> None:
    # sharing's key (a compromised sharing) may not make decisions
    send(stack.settings, DECISIONS, full_disclosure(decided), sign_as="sharing")
    eventually(lambda: letters_with(stack, "maar dit topic is van 'routing'"), timeout=30)
    assert gemeente_items(stack, decided) == []


def test_a_genuine_decision_altered_or_replayed_for_another_melding_is_refused(
    stack: Stack, decided: str
) -> None:
    genuine = next(
        r
        for r in read_records(stack.settings, DECISIONS)
        if r.key == decided.encode() and r.value and b'"gemeente_veiligheid"' in r.value
    )
    flipped = genuine.value.replace(b'"allow":false', b'"allow":true')
    assert flipped != genuine.value
    other = stack.submit(submission("02.json"))
    eventually(lambda: complete_trail(stack, other), timeout=90)
    send(
        stack.settings,
        DECISIONS,
        (genuine.key, flipped, list(genuine.headers)),  # altered, original signature
        (other.encode(), genuine.value, list(genuine.headers)),  # re-keyed to another melding
    )
    letters = eventually(
        lambda: (found := letters_with(stack, "klopt niet")) and len(found) >= 4 and found,
        timeout=30,
    )  # two records, each refused by sharing and by audit
    assert {letter["key"] for letter in letters} >= {decided, other}
    assert gemeente_items(stack, decided) == [] and gemeente_items(stack, other) == []


def test_no_release_on_a_forged_receipt(stack: Stack) -> None:
    stack.stop("audit")  # no real receipt can come
    try:
        melding_id = stack.submit(submission("02.json"))
        riec = stack.client("riec-oost")

        def created() -> list[dict[str, Any]]:
            return [
                e
                for e in read_events(stack.settings, "kmt.disclosures.v1")
                if e["subject"] == melding_id and e["type"].endswith("created")
            ]

        disclosure = eventually(created, timeout=60)[0]

        def receipt(seq: int, ciphertext: str | None) -> Any:
            data = disclosure["data"]
            return new_event(
                type=AUDIT_RECORDED,
                source="kmt/audit",
                subject=melding_id,
                data=AuditRecorded(
                    event_id=disclosure["id"],
                    event_type=disclosure["type"],
                    melding_id=uuid.UUID(melding_id),
                    disclosure_id=uuid.UUID(data["disclosure_id"]),
                    seq=seq,
                    entry_hash="0" * 64,
                    ciphertext_sha256=ciphertext,
                ),
            )

        genuine_hash = disclosure["data"]["ciphertext_sha256"]
        send(stack.settings, AUDIT_RECEIPTS, receipt(1, genuine_hash))  # unsigned
        send(stack.settings, AUDIT_RECEIPTS, receipt(2, genuine_hash), sign_as="sharing")
        # even audit's own key cannot release another ciphertext than the one sealed
        send(stack.settings, AUDIT_RECEIPTS, receipt(3, "ab" * 32), sign_as="audit")
        eventually(lambda: letters_with(stack, "hoort niet bij deze disclosure"), timeout=30)
        eventually(lambda: letters_with(stack, "maar dit topic is van 'audit'"), timeout=30)
        ref = stack.melding_ref(melding_id, "riec-oost")
        assert [i for i in riec.fetch(0).items if i["melding_ref"] == ref] == []
    finally:
        stack.start("audit")
    # the real receipt then releases it, once
    eventually(
        lambda: [i for i in stack.fetch_all("riec-oost") if i["melding_ref"] == ref],
        timeout=60,
    )


def test_even_routings_own_key_cannot_make_sharing_disclose_beyond_the_policy(
    stack: Stack, decided: str
) -> None:
    # A compromised routing signs a decision the policy never gave, while the melding waits
    # in sharing for its decisions: sharing asks the policy again and refuses it.
    revision = next(
        e["policy_revision"] for e in stack.audit_entries(decided) if e["type"] == "decision"
    )
    stack.kill("routing")
    try:
        waiting = stack.submit(submission("02.json"))
        eventually(
            lambda: [e for e in stack.audit_entries(waiting) if e["type"] == "melding"],
            timeout=30,
        )  # audit has it; sharing reads the same topic
        forged = full_disclosure(waiting, revision=revision)
        send(stack.settings, DECISIONS, forged, sign_as="routing")
        eventually(lambda: letters_with(stack, "wijkt af van het beleid"), timeout=30)
    finally:
        stack.start("routing")
    # the real decisions still count: the RIEC gets its disclosure, the gemeente nothing
    eventually(
        lambda: [
            i
            for i in stack.fetch_all("riec-oost")
            if i["melding_ref"] == stack.melding_ref(waiting, "riec-oost")
        ],
        timeout=120,
    )
    assert gemeente_items(stack, waiting) == []


def test_dead_letters_name_the_reason_but_carry_no_payload(stack: Stack) -> None:
    letters = read_events(stack.settings, DEAD_LETTER)
    assert letters
    assert all("aanval" not in json.dumps(d) for d in letters)
