"""The verwerkingsregister, LDV records and the parts of issue 14 that are pure logic:
readiness while a record is retried, and the trace context under the event signature."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.audit.entry import Entry
from services.bus.consumer import Record, handle_reliably
from services.bus.signing import EventSigner, EventVerifier
from services.common.events import MalformedEvent
from services.common.settings import Settings
from services.observability import health, ldv, register

POLICY_DATA = Path(__file__).resolve().parents[1] / "policies" / "kmt" / "config" / "data.json"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARTNER = f"00-{TRACE}-00f067aa0ba902b7-01"


def test_the_register_describes_the_policies_facts_as_they_are() -> None:
    assert register.drift(register.load()) == []
    riec = register.load().for_recipient("riec")
    policy = json.loads(POLICY_DATA.read_text())["recipients"]["riec"]
    assert (riec.purpose, list(riec.legal_basis), riec.retention) == (
        policy["purpose"],
        policy["legal_basis"],
        policy["retention"],
    )


def test_a_policy_fact_changed_without_a_new_register_version_is_drift(tmp_path: Path) -> None:
    data = json.loads(POLICY_DATA.read_text())
    data["recipients"]["riec"]["retention"] = "P5Y"
    data["recipients"]["veilig_thuis"]["legal_basis_acute"] = ["AVG art. 6 lid 1 sub c"]
    changed = tmp_path / "data.json"
    changed.write_text(json.dumps(data))
    found = register.drift(register.load(policy_data=changed))
    assert [line.split(":")[0] for line in found] == [
        "verstrekken-riec",
        "verstrekken-veilig-thuis",
    ]
    assert register.load(policy_data=changed).for_recipient("riec").retention == "P5Y"


def test_every_activity_has_a_versioned_uri_and_its_facts() -> None:
    activities = register.load().activities.values()
    assert len({a.uri for a in activities}) == len(activities) == 7
    for activity in activities:
        assert activity.uri.endswith(f":{activity.id}:v{activity.version}")
        assert activity.purpose and activity.legal_basis and activity.retention.startswith("P")


def entry(seq: int, type: str, **values: Any) -> Entry:
    return Entry(
        type=type,  # type: ignore[arg-type]
        event_id=f"event-{seq}",
        actor=values.pop("actor", "kmt/test"),
        melding_id="m-1",
        trace_id=values.pop("trace_id", TRACE),
        seq=seq,
        recorded_at=f"2026-03-02T09:30:0{seq}.000000Z",
        **values,
    )


# a victim known by BSN and by name (two pseudonyms, one person) and two suspects
MELDING = entry(
    0,
    "melding",
    actor="kmt/intake/wijkteam-almelo",
    trace_id=PARTNER,
    fields=("victim", "victim", "suspects[0]", "suspects[1]"),
    subject_pseudonyms=("v-bsn", "v-naam", "s-0", "s-1"),
)
TRAIL = [
    MELDING,
    entry(1, "decision", recipient="riec", allow=True),
    entry(2, "decision", recipient="gemeente_veiligheid", allow=False),
    entry(
        3,
        "disclosure",
        recipient="riec",
        disclosure_id="d-1",
        fields=("victim.pseudonym", "suspects[0].name", "municipality"),
    ),
    entry(
        4,
        "disclosure",
        recipient="gemeente_veiligheid",
        disclosure_id="d-2",
        fields=("municipality", "location.address"),
    ),
    entry(5, "release", recipient="riec", disclosure_id="d-1"),
    entry(6, "policy_change"),
]
INZAGE = Entry(
    type="audit_access",
    event_id="event-7",
    actor="staff:po-1",
    event_type="audit.access_report",
    subject_pseudonyms=("p-slachtoffer", "p-verdachte"),  # one person, in either role
    seq=7,
    recorded_at="2026-03-02T09:30:07.000000Z",
)


def derived() -> list[dict[str, Any]]:
    return list(ldv.records([*TRAIL, INZAGE], {"m-1": TRAIL}, register.load()))


def test_one_record_per_subject_per_step_with_its_role() -> None:
    records = derived()
    assert all(ldv.problems(r) == [] for r in records)
    by_step: dict[int, list[str]] = {}
    for record in records:
        attributes = record["attributes"]
        if "dpl.core.data_subject_id" in attributes:
            kind = attributes["dpl.core.data_subject_id_type"].split(":")[-2]
            by_step.setdefault(attributes["kmt.ledger.seq"], []).append(kind)
    assert by_step == {
        0: ["slachtoffer", "verdachte", "verdachte"],  # the victim once, not per pseudonym
        1: ["slachtoffer", "verdachte", "verdachte"],
        2: ["slachtoffer", "verdachte", "verdachte"],
        3: ["slachtoffer", "verdachte", "verdachte"],  # the RIEC's carries all three
        5: ["slachtoffer", "verdachte", "verdachte"],
        # 4: the gemeente's disclosure carries nobody's data; 6: no data subject at all
        7: ["betrokkene"],  # the inzageverzoek: the one person who asked
    }
    subjects = {r["attributes"].get("dpl.core.data_subject_id") for r in records}
    assert subjects == {None, "v-bsn", "s-0", "s-1", "p-slachtoffer"}
    inzage = {r["attributes"]["dpl.core.processing_activity_id"] for r in records[-2:]}
    assert inzage == {"urn:nl:kmt-twente:verwerkingsregister:inzageverzoek:v1"}


def test_the_inzage_entry_is_known_by_the_audit_s_own_name() -> None:
    from services.audit.report.content import ACCESS_REPORT

    assert register.ACCESS_REPORT == ACCESS_REPORT


def test_subject_records_hang_under_their_step_in_the_melding_s_trace() -> None:
    records = derived()
    steps = {r["span_id"]: r for r in records if "parent_span_id" not in r}
    for record in records[:-2]:  # the inzageverzoek is a processing of its own
        assert record["trace_id"] == TRACE
    for record in records:
        if "parent_span_id" in record:
            assert steps[record["parent_span_id"]]["name"] == record["name"]
    first = next(r for r in records if r["name"] == "melding" and "parent_span_id" not in r)
    assert first["foreign_operation"] == {
        "trace_id": TRACE,
        "span_id": "00f067aa0ba902b7",
        "entity": "urn:nl:kmt-twente:partner:wijkteam-almelo",
    }
    assert derived() == records  # derived again from the same ledger: the same records


def test_the_validator_names_what_the_specification_requires() -> None:
    record = derived()[1]
    assert ldv.problems(record) == []
    broken = {k: v for k, v in record.items() if k not in ("status_code", "end_time")}
    broken["trace_id"] = "xyz"
    broken["attributes"] = {"dpl.core.data_subject_id": "v-bsn"}
    assert ldv.problems(broken) == [
        "status_code ontbreekt",
        "end_time ontbreekt",
        "trace_id is geen 16 bytes hex",
        "status_code onbekend",
        "start_time/end_time geen tijdstip in ms",
        "dpl.core.processing_activity_id is geen URI",
        "data_subject_id zonder data_subject_id_type (of andersom)",
    ]


class Failing:
    async def __call__(self, record: Record) -> None:
        raise RuntimeError("blijft mislukken")


class AcceptingVerifier:
    def verify(self, *_: Any) -> str:
        return "intake"


async def test_a_record_retried_too_long_makes_the_service_not_ready() -> None:
    settings = Settings(retry_max_seconds=0.05, retry_give_up_seconds=60, ready_retry_seconds=0.3)
    app = FastAPI()
    health.observe(app, settings, "test", {})
    client = TestClient(app)
    assert client.get("/ready").status_code == 200
    record = Record("t.kmt.meldingen.v1", 0, 7, b"m-1", b"{}")
    task = asyncio.create_task(
        handle_reliably(record, Failing(), None, settings, "test", AcceptingVerifier())  # type: ignore[arg-type]
    )
    await asyncio.sleep(0.6)
    answer = client.get("/ready")
    assert answer.status_code == 503
    assert answer.json()["checks"]["herhalingen"].startswith("niet gereed: record al")
    assert 'kmt_records_retrying{consumer="test"} 1.0' in client.get("/metrics").text
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert client.get("/ready").status_code == 200  # no longer retried: ready again
    assert 'kmt_records_retrying{consumer="test"} 0.0' in client.get("/metrics").text


def test_the_signature_covers_the_trace_context() -> None:
    key = Ed25519PrivateKey.generate()
    signer = EventSigner("intake", key)
    verifier = EventVerifier("", {"intake": key.public_key()})
    topic, value = "kmt.meldingen.v1", b'{"id": "1"}'
    headers = signer.headers(topic, b"m-1", value, PARTNER)
    assert verifier.verify(topic, b"m-1", value, headers) == "intake"
    other = f"00-{'1' * 32}-{'2' * 16}-01".encode()
    changed = [(n, other if n == "traceparent" else v) for n, v in headers]
    stripped = [(n, v) for n, v in headers if n != "traceparent"]
    added = [*signer.headers(topic, b"m-1", value), ("traceparent", other)]
    for forged in (changed, stripped, added):
        with pytest.raises(MalformedEvent, match="klopt niet"):
            verifier.verify(topic, b"m-1", value, forged)
