"""From events to ledger entries: what is recorded, and that no personal data ever is."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import tempfile
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from services.audit.entry import Draft, canonical_bytes, seal
from services.audit.ledger import Ledger, Query
from services.audit.pseudonym import pseudonyms
from services.audit.recorder import RECORDED_TYPES, draft_of, receipt_of
from services.audit.sqlite_store import SqliteStore
from services.common.events import (
    DISCLOSURE_CREATED,
    DISCLOSURE_RELEASED,
    MELDING_RECEIVED,
    SHARING_DECIDED,
    CloudEvent,
    MalformedEvent,
    derived_id,
    new_event,
    parse_event,
)
from services.common.facts import MeldingReceived, policy_facts
from services.common.models import (
    AuditRecorded,
    DisclosureCreated,
    DisclosureLifecycle,
    Melding,
    Reason,
    SharingDecided,
)
from services.keyring import generate_all
from services.keyring.datakeys import DataKeyStore
from services.keyring.vault import Opener, Sealer

SCENARIO = Path(__file__).parent / "scenarios" / "01.json"
KEY = b"k" * 32
_VAULT = Path(tempfile.mkdtemp(prefix="kmt-vault-"))
generate_all(_VAULT / "keys")
_STORE = DataKeyStore(_VAULT / "keystore.db")
SEALER = Sealer.load(_VAULT / "keys", _STORE)
"""Seals the test meldingen as intake does; `OPENER` opens them as audit does."""
OPENER = Opener.load(_VAULT / "keys", "audit", _STORE)


def melding() -> Melding:
    body = json.loads(SCENARIO.read_text())["melding"]
    return Melding.model_validate({**body, "melding_id": str(uuid.uuid4())})


def received_event(m: Melding, sealer: Sealer = SEALER) -> CloudEvent:
    """`melding.received` as intake publishes it: sealed, with the facts beside it."""
    data = MeldingReceived(
        melding_id=m.melding_id,
        received_at=m.received_at,
        facts=policy_facts(m),
        sealed=sealer.seal(str(m.melding_id), m.model_dump_json().encode()),
    )
    return new_event(
        type=MELDING_RECEIVED, source="kmt/intake", subject=str(m.melding_id), data=data
    )


def events(m: Melding, sealer: Sealer = SEALER) -> list[CloudEvent]:
    subject = str(m.melding_id)
    decided = SharingDecided(
        melding_id=m.melding_id,
        decided_at=datetime.now(UTC),
        recipient="veilig_thuis",
        allow=True,
        purpose="veiligheidsbeoordeling",
        legal_basis=["Wmo 2015 art. 5.2.6"],
        fields=["victim.name", "victim.bsn", "signals.narrative"],
        obligations=["retention:P2Y", "notify:deferred"],
        reasons=[Reason(rule="vt.minor", text="Slachtoffer is minderjarig.")],
        policy_revision="rev-7",
    )
    decision_event = new_event(
        type=SHARING_DECIDED, source="kmt/routing", subject=subject, data=decided
    )
    disclosure = DisclosureCreated(
        disclosure_id=uuid.uuid4(),
        decision_event_id=decision_event.id,
        melding_id=m.melding_id,
        recipient="veilig_thuis",
        purpose="veiligheidsbeoordeling",
        legal_basis=["Wmo 2015 art. 5.2.6"],
        fields=["victim.name", "victim.bsn", "signals.narrative"],
        obligations=["retention:P2Y", "notify:deferred"],
        policy_revision="rev-7",
        created_at=datetime.now(UTC),
        ciphertext_sha256="ab" * 32,
        jwe="eyJhbGciOi.J9.x.y.z",
    )
    return [
        received_event(m, sealer),
        decision_event,
        new_event(type=DISCLOSURE_CREATED, source="kmt/sharing", subject=subject, data=disclosure),
    ]


def released(disclosed: CloudEvent) -> CloudEvent:
    """The release of the disclosure in `disclosed`, as sharing reports it."""
    data = disclosed.data
    step = DisclosureLifecycle(
        disclosure_id=data["disclosure_id"],
        melding_id=data["melding_id"],
        recipient=data["recipient"],
        partner_id="veilig-thuis-twente",
        action="released",
        actor="kmt/sharing",
        at=datetime.now(UTC),
    )
    return new_event(
        type=DISCLOSURE_RELEASED, source="kmt/sharing", subject=data["melding_id"], data=step
    )


def record(ledger: Ledger, event: CloudEvent) -> Draft:
    parsed = parse_event(event.to_bytes(), RECORDED_TYPES)
    draft = draft_of(parsed, KEY, OPENER)
    ledger.append(draft)
    return draft


@pytest.fixture
def ledger(tmp_path: Path) -> Any:
    made = Ledger(SqliteStore(tmp_path / "audit.sqlite3"), Ed25519PrivateKey.generate())
    yield made
    made.close()


def test_entries_say_who_got_what_and_why(ledger: Ledger) -> None:
    m = melding()
    for event in events(m):
        record(ledger, event)
    kinds = {e.type: e for e in ledger.search(Query(melding_ids=[str(m.melding_id)]))}
    assert set(kinds) == {"melding", "decision", "disclosure"}
    victim = pseudonyms(KEY, bsn="111222333", name="Sanne de Vries", birth_date=date(2001, 5, 14))
    suspect = pseudonyms(
        KEY, bsn=None, name="R. Bakker", birth_date=date(1996, 2, 1), role="verdachte"
    )
    assert kinds["melding"].subject_pseudonyms == victim + suspect  # suspects are subjects too
    assert kinds["decision"].reasons == ("vt.minor: Slachtoffer is minderjarig.",)
    assert kinds["decision"].allow is True
    assert kinds["disclosure"].fields == ("victim.name", "victim.bsn", "signals.narrative")
    assert kinds["disclosure"].ciphertext_sha256 == "ab" * 32
    assert kinds["disclosure"].trace_id == kinds["decision"].event_id


def test_no_personal_data_reaches_the_database(ledger: Ledger, tmp_path: Path) -> None:
    m = melding()
    for event in events(m):
        record(ledger, event)
    ledger.checkpoint()
    ledger.close()
    with sqlite3.connect(tmp_path / "audit.sqlite3") as db:
        db.execute("PRAGMA wal_checkpoint(FULL)")
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    victim, suspect = m.victim, m.suspects[0]
    for value in (
        victim.name, victim.bsn, "2001-05-14", victim.phone, "Grotestraat", "7607 CK",
        suspect.name, "advertenties", m.signals.narrative, "vakantiepark",
        "Wijkcoach ziet signalen", "eyJhbGciOi.J9",
    ):  # fmt: skip
        assert str(value).encode() not in stored, "persoonsgegeven in de ledger"


def test_pseudonyms_ignore_spelling_but_need_the_key() -> None:
    same = pseudonyms(KEY, bsn=None, name="  JOSÉ de   Vries", birth_date=date(2000, 1, 2))
    assert same == pseudonyms(KEY, bsn=None, name="jose de vries", birth_date=date(2000, 1, 2))
    assert same != pseudonyms(KEY, bsn=None, name="jose de vries", birth_date=date(2000, 1, 3))
    assert same != pseudonyms(
        b"x" * 32, bsn=None, name="jose de vries", birth_date=date(2000, 1, 2)
    )
    assert pseudonyms(KEY, bsn=None, name="jose", birth_date=None) == ()
    # one identity, two roles: two pseudonyms, so the roles cannot be linked in the ledger
    assert same != pseudonyms(
        KEY, bsn=None, name="jose de vries", birth_date=date(2000, 1, 2), role="verdachte"
    )


def test_receipt_is_deterministic_and_carries_seq_and_hash(ledger: Ledger) -> None:
    event = events(melding())[2]
    draft = draft_of(event, KEY, OPENER)
    appended = ledger.append(draft)
    receipt = receipt_of(event, draft, appended)
    again = receipt_of(event, draft, ledger.append(draft))
    assert receipt.id == again.id == derived_id(event.id, "receipt")
    data = AuditRecorded.model_validate(receipt.data)
    assert (data.seq, data.entry_hash) == (appended.seq, appended.entry_hash)
    assert str(data.disclosure_id) == draft.disclosure_id
    assert receipt.subject == draft.melding_id


@pytest.mark.parametrize(
    "raw",
    [
        None,
        b"not json",
        b'{"id": "x"}',
        new_event(
            type="nl.kmt.disclosure.released",
            source="kmt/sharing",
            subject="m",
            data=Reason(rule="r", text="t"),
        ).to_bytes(),
        new_event(
            type=SHARING_DECIDED, source="kmt/routing", subject="m", data=Reason(rule="r", text="t")
        ).to_bytes(),
    ],
)
def test_malformed_events_are_refused_with_a_reason(raw: bytes | None) -> None:
    with pytest.raises(MalformedEvent) as refused:
        draft_of(parse_event(raw, RECORDED_TYPES), KEY, OPENER)
    assert str(refused.value)


@given(
    st.builds(
        Draft,
        type=st.sampled_from(["decision", "disclosure", "audit_access"]),
        event_id=st.text(),
        actor=st.text(),
        purpose=st.none() | st.text(),
        allow=st.none() | st.booleans(),
        legal_basis=st.lists(st.text()).map(tuple),
        reasons=st.lists(st.text()).map(tuple),
    ),
    st.integers(min_value=0, max_value=2**62),
)
def test_canonical_form_is_sorted_compact_json(draft: Draft, seq: int) -> None:
    entry = seal(draft, seq=seq, recorded_at="2026-01-01T00:00:00.000000Z", prev_hash="0" * 64)
    values = entry.as_dict()
    del values["entry_hash"]
    reference = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_bytes(values) == reference.encode()
    assert entry.entry_hash == hashlib.sha256(reference.encode()).hexdigest()
