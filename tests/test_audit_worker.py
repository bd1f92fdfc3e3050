"""The audit service against the real broker: records, receipts after commit, redelivery,
dead letters, and fail-closed when the ledger cannot commit."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest

from services.audit.backends import SQLITE_FILE
from services.audit.main import build_app
from services.bus.kafka import ensure_topics
from services.common import topics
from services.common.events import new_event
from services.common.models import Reason
from services.common.settings import Settings
from services.common.staff import add_member
from services.keyring import generate_all
from services.keyring.datakeys import DataKeyStore
from services.keyring.vault import Sealer
from tests.stack import read_records, send
from tests.test_audit_recorder import events, melding


def vault_of(settings: Settings) -> Sealer:
    """Intake's sealer in this deployment, so the service opens what the test sends."""
    return Sealer.load(settings.keys_dir, DataKeyStore.of(settings))


pytestmark = pytest.mark.integration


def read(settings: Settings, topic: str, want: int, seconds: float = 20) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in read_records(settings, topic, want, seconds) if r.value]


@pytest.fixture
def service(settings_factory: Callable[..., Settings]) -> Iterator[tuple[Settings, TestClient]]:
    settings = settings_factory()
    generate_all(settings.keys_dir)
    asyncio.run(ensure_topics(settings))
    with TestClient(
        build_app(settings.model_copy(update={"audit_checkpoint_seconds": 0.5}))
    ) as client:
        yield settings, client


def test_records_then_receipts_each_event_once(service: tuple[Settings, TestClient]) -> None:
    settings, client = service
    m = melding()
    received, decided, disclosed = events(m, vault_of(settings))
    send(settings, topics.MELDINGEN, received, sign_as="intake")
    send(settings, topics.DECISIONS, decided, decided, sign_as="routing")  # redelivered
    send(settings, topics.DISCLOSURES, disclosed, sign_as="sharing")
    receipts = read(settings, topics.AUDIT_RECEIPTS, 4)
    assert len(receipts) == 4
    assert len({r["id"] for r in receipts}) == 3  # the redelivery repeats the same receipt
    by_event = {r["data"]["event_id"]: r["data"] for r in receipts}
    assert set(by_event) == {received.id, decided.id, disclosed.id}
    assert by_event[disclosed.id]["disclosure_id"] == disclosed.data["disclosure_id"]
    token = add_member("fg", "privacy_officer", settings.staff_file)
    listed = client.get(
        f"/v1/audit/meldingen/{m.melding_id}", headers={"Authorization": f"Bearer {token}"}
    ).json()["entries"]
    recorded = {e["event_id"]: e for e in listed if e["type"] != "audit_access"}
    assert len(recorded) == 3
    for event_id, receipt in by_event.items():
        assert (recorded[event_id]["seq"], recorded[event_id]["entry_hash"]) == (
            receipt["seq"], receipt["entry_hash"])  # fmt: skip
    time.sleep(1.5)  # the timer signs a checkpoint: the receipt's seq becomes provable
    proof = client.get(f"/v1/audit/entries/{by_event[disclosed.id]['seq']}/proof")
    assert proof.status_code == 200


def test_malformed_and_unknown_events_go_to_dead_letter_and_the_stream_goes_on(
    service: tuple[Settings, TestClient],
) -> None:
    settings, _ = service
    unknown = new_event(
        type="nl.kmt.onbekend.v1", source="kmt/sharing", subject="x",
        data=Reason(rule="r", text="t"))  # fmt: skip
    _, decided, _ = events(melding())
    send(settings, topics.DECISIONS, (b"poison", b"{not json"), unknown, decided, sign_as="routing")
    dead = read(settings, topics.DEAD_LETTER, 2)
    assert sorted(d["data"]["reason"][:20] for d in dead) == sorted(
        ["geen geldige JSON (J", "onverwacht eventtype"])  # fmt: skip
    receipts = read(settings, topics.AUDIT_RECEIPTS, 1)
    assert [r["data"]["event_id"] for r in receipts] == [decided.id]


def test_no_receipt_while_the_ledger_cannot_commit(service: tuple[Settings, TestClient]) -> None:
    settings, _ = service
    database = sqlite3.connect(settings.data_dir / SQLITE_FILE, isolation_level=None)
    database.execute(
        "CREATE TRIGGER outage BEFORE INSERT ON entries BEGIN SELECT RAISE(ABORT, 'down'); END"
    )
    _, decided, _ = events(melding())
    send(settings, topics.DECISIONS, decided, sign_as="routing")
    assert read(settings, topics.AUDIT_RECEIPTS, 1, seconds=4) == []
    database.execute("DROP TRIGGER outage")
    database.close()
    receipts = read(settings, topics.AUDIT_RECEIPTS, 1)
    assert [r["data"]["event_id"] for r in receipts] == [decided.id]
    assert receipts[0]["data"]["seq"] == 0


def test_metrics_still_answer_once_the_ledger_is_closed(
    settings_factory: Callable[..., Settings],
) -> None:
    """The checkpoint-age gauge reads the ledger at each scrape; a ledger that cannot be read
    gives no figure (NaN), not a failed /metrics for the whole process."""
    settings = settings_factory()
    generate_all(settings.keys_dir)
    with TestClient(build_app(settings)):
        pass  # the app started, then shut down and closed its ledger
    assert "kmt_ledger_checkpoint_age_seconds NaN" in generate_latest().decode()
