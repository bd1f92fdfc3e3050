"""Issue 9 item 14: every staff read is an `audit_access` entry, also a KMT worker's read of
sharing's review queue. Sharing commits the read's `staff.accessed` event before it answers;
audit records it per melding shown, and only from sharing's signature on sharing's topic.

The pure parts here; the whole path against the real broker in test_staff_reads_stack.py."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.audit.entry import Draft, seal
from services.audit.recorder import RECORDED_TYPES, drafts_of
from services.audit.verify import verwerking
from services.audit.worker import CONSUMED
from services.bus.consumer import Record
from services.common import topics
from services.common.events import (
    AUDIT_RECORDED,
    DISCLOSURE_CREATED,
    MELDING_RECEIVED,
    STAFF_ACCESSED,
    CloudEvent,
    MalformedEvent,
    new_event,
    parse_event,
)
from services.common.models import AuditRecorded, StaffAccessed
from services.common.settings import Settings
from services.sharing.outbox import Outbox, StoredDisclosure
from services.sharing.staff_reads import read_recorded
from services.sharing.worker import Sharing
from services.state.database import Database
from tests.test_audit_recorder import KEY, OPENER

TOPIC = "t.kmt.disclosures.v1"
NOW = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)


def waiting(outbox: Outbox, *melding_ids: str) -> list[str]:
    """A `review:human` disclosure waiting for each melding id (repeats: several per melding)."""
    made = []
    for n, melding_id in enumerate(melding_ids):
        disclosure_id = str(uuid.uuid4())
        created = CloudEvent(
            id=f"created-{disclosure_id}",
            source="kmt/sharing",
            type=DISCLOSURE_CREATED,
            time=NOW,
            data={"ciphertext_sha256": "ab" * 32},
        ).model_dump(mode="json")
        stored = StoredDisclosure(
            seq=0, disclosure_id=disclosure_id, melding_id=melding_id, recipient="veilig_thuis",
            partner_id=f"partner-{n}", event=created, created_at=NOW.isoformat(),
            expires_at=None, needs_review=True, audit_seq=None, review=None, released_at=None,
            acked_at=None,
        )  # fmt: skip
        outbox.keep_decision(f"besluit-{disclosure_id}", melding_id, "veilig_thuis", "{}")
        outbox.finish_decision(f"besluit-{disclosure_id}", melding_id, [stored], recipients=3)
        made.append(disclosure_id)
    return made


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    return Outbox(Database.on_sqlite(tmp_path / "sharing.db"), os.urandom(32))


def test_the_read_is_committed_for_audit_before_anything_is_shown(outbox: Outbox) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    waiting(outbox, first, second, first)
    shown = read_recorded(outbox, TOPIC, "kmt-medewerker", "sharing.reviews",
                          outbox.awaiting_review)  # fmt: skip
    assert len(shown) == 3
    (pending,) = outbox.pending(10)
    assert (pending.topic, pending.event.type) == (TOPIC, STAFF_ACCESSED)
    assert pending.event.subject == "staff:kmt-medewerker"  # keyed by who read
    data = StaffAccessed.model_validate(pending.event.data)
    assert data.actor == "staff:kmt-medewerker" and data.read == "sharing.reviews"
    assert [str(m) for m in data.melding_ids] == [first, second]  # each melding once
    assert set(pending.event.data) == {"actor", "read", "melding_ids", "at"}  # ids only


def test_an_empty_answer_is_a_read_too(outbox: Outbox) -> None:
    assert read_recorded(outbox, TOPIC, "kmt-medewerker", "sharing.reviews",
                         outbox.awaiting_review) == []  # fmt: skip
    (pending,) = outbox.pending(10)
    assert pending.event.data["melding_ids"] == []


def test_no_record_no_answer(outbox: Outbox) -> None:
    waiting(outbox, str(uuid.uuid4()))

    def failing_enqueue(topic: str, event: CloudEvent) -> None:
        raise OSError("schijf vol")

    outbox.enqueue = failing_enqueue  # type: ignore[method-assign]
    with pytest.raises(OSError):
        read_recorded(outbox, TOPIC, "kmt-medewerker", "sharing.reviews", outbox.awaiting_review)
    assert outbox.pending(10) == []


def staff_read(*melding_ids: str, actor: str = "staff:kmt-medewerker") -> CloudEvent:
    return new_event(
        type=STAFF_ACCESSED,
        source="kmt/sharing",
        subject=actor,
        data=StaffAccessed.model_construct(
            actor=actor,
            read="sharing.reviews",
            melding_ids=[uuid.UUID(m) for m in melding_ids],
            at=NOW,
        ),
    )


def test_audit_records_one_access_entry_per_melding_shown() -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    event = staff_read(first, second)
    drafts = drafts_of(parse_event(event.to_bytes(), RECORDED_TYPES), KEY, OPENER)
    assert [(d.type, d.actor, d.event_type, d.melding_id, d.trace_id) for d in drafts] == [
        ("audit_access", "staff:kmt-medewerker", "sharing.reviews", first, event.id),
        ("audit_access", "staff:kmt-medewerker", "sharing.reviews", second, event.id),
    ]
    assert len({d.event_id for d in drafts}) == 2  # the ledger dedupes by event id
    assert drafts == drafts_of(event, KEY, OPENER)  # a redelivery gives the same entries
    (empty,) = drafts_of(staff_read(), KEY, OPENER)
    assert (empty.melding_id, empty.event_id) == (None, empty.trace_id)


@pytest.mark.parametrize(
    "data",
    [
        {"actor": "kmt/sharing"},  # not a staff member
        {"actor": "staff:Jan Jansen"},  # a name is no staff id
        {"melding_ids": ["jan"]},
        {"read": "audit.export"},  # not a read sharing can record
        {"naam": "Jan"},  # nothing but ids
    ],
)
def test_a_staff_read_that_does_not_fit_the_contract_is_refused(data: dict[str, object]) -> None:
    event = staff_read(str(uuid.uuid4()))
    bad = event.model_copy(update={"data": {**event.data, **data}})
    with pytest.raises(MalformedEvent):
        drafts_of(bad, KEY, OPENER)


def test_each_topic_carries_only_its_owners_event_types() -> None:
    prefix = "t."
    assert STAFF_ACCESSED in topics.carried_by(prefix + topics.DISCLOSURES, prefix)
    for topic in (topics.DECISIONS, topics.POLICY, topics.MELDINGEN, topics.AUDIT_RECEIPTS):
        assert STAFF_ACCESSED not in topics.carried_by(prefix + topic, prefix)
    assert topics.carried_by(prefix + topics.MELDINGEN, prefix) == {MELDING_RECEIVED}
    assert DISCLOSURE_CREATED not in topics.carried_by(prefix + topics.DECISIONS, prefix)
    assert topics.carried_by("t.onbekend", prefix) == frozenset()
    # every type audit records travels on a topic it reads
    assert set().union(*(topics.CARRIES[t] for t in CONSUMED)) >= RECORDED_TYPES


def test_the_verwerkingen_log_names_a_review_queue_read_as_such() -> None:
    (draft,) = drafts_of(staff_read(str(uuid.uuid4())), KEY, OPENER)
    own = Draft(type="audit_access", event_id="e", event_type="audit.melding", actor="staff:fg")
    names = [
        verwerking(seal(d, seq=0, recorded_at="2026-06-15T09:00:00.000000Z",
                        prev_hash="0" * 64).as_dict())["verwerkingsnaam"]
        for d in (draft, own)
    ]  # fmt: skip
    assert names == ["Inzien van de beoordelingswachtrij", "Inzien van de audittrail"]


async def test_sharing_takes_a_receipt_only_from_the_receipts_topic(
    outbox: Outbox, tmp_path: Path
) -> None:
    """A receipt on the decisions topic passed routing's signature check there; sharing
    would have acted on it as if audit sent it."""
    disclosure_id = waiting(outbox, str(uuid.uuid4()))[0]
    receipt = new_event(
        type=AUDIT_RECORDED, source="kmt/audit", subject="x",
        data=AuditRecorded(event_id="e", event_type=DISCLOSURE_CREATED,
                           disclosure_id=uuid.UUID(disclosure_id), seq=1, entry_hash="0" * 64),
    )  # fmt: skip
    nothing: Any = None
    sharing = Sharing(Settings(topic_prefix="t.", keys_dir=tmp_path / "keys"), outbox, nothing,
                      nothing)  # fmt: skip
    on = {t: Record(f"t.{t}", 0, 0, b"x", receipt.to_bytes()) for t in topics.CARRIES}
    for topic in (topics.DECISIONS, topics.MELDINGEN, topics.POLICY, topics.DISCLOSURES):
        with pytest.raises(MalformedEvent, match="onverwacht eventtype"):
            await sharing(on[topic])
    with pytest.raises(MalformedEvent, match="hoort niet bij deze disclosure"):
        await sharing(on[topics.AUDIT_RECEIPTS])  # read as a receipt: then checked as one
