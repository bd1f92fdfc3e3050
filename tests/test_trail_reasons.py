"""The trail shows why (issue 9 item 20): each decision's reasons reach the ledger and the
audit API as the real policies give them, the rule with its Dutch text, not the rule alone."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from services.audit.api import create_app
from services.audit.ledger import Ledger
from services.audit.sqlite_store import SqliteStore
from services.common.events import SHARING_DECIDED, new_event
from services.common.models import Decision, Melding, SharingDecided
from services.common.staff import add_member
from services.policy.engine import POLICIES, OneShotEngine, decide_all, find_opa_binary
from tests.test_audit_recorder import melding, received_event, record


async def decisions_for(m: Melding) -> list[Decision]:
    binary = find_opa_binary()
    if binary is None:
        pytest.fail("opa ontbreekt: provision/provision.sh installeert het")
    engine = OneShotEngine(POLICIES, binary)
    try:
        return await decide_all(engine, m)
    finally:
        await engine.close()


def test_every_reason_in_the_trail_carries_its_dutch_text(tmp_path: Path) -> None:
    m = melding()
    decisions = asyncio.run(decisions_for(m))
    staff = tmp_path / "staff.json"
    token = add_member("fg-1", "privacy_officer", staff)
    ledger = Ledger(SqliteStore(tmp_path / "audit.sqlite3"), Ed25519PrivateKey.generate())
    record(ledger, received_event(m))
    for decision in decisions:
        decided = SharingDecided(
            **decision.model_dump(), melding_id=m.melding_id, decided_at=datetime.now(UTC)
        )
        event = new_event(
            type=SHARING_DECIDED, source="kmt/routing", subject=str(m.melding_id), data=decided
        )
        record(ledger, event)
    with TestClient(create_app(ledger, b"k" * 32, staff)) as client:
        trail = client.get(
            f"/v1/audit/meldingen/{m.melding_id}", headers={"Authorization": f"Bearer {token}"}
        ).json()["entries"]
    ledger.close()
    shown = {e["recipient"]: e["reason_texts"] for e in trail if e["type"] == "decision"}
    assert set(shown) == {d.recipient for d in decisions} and len(shown) == 3
    for decision in decisions:
        expected = [{"rule": r.rule, "text": r.text} for r in decision.reasons]
        assert shown[decision.recipient] == expected
        for reason in shown[decision.recipient]:
            assert reason["text"] and reason["text"] != reason["rule"]
    # in Dutch, as the policies write it
    assert any("niet geïnformeerd" in r["text"] for rs in shown.values() for r in rs)
