"""The webhook signature as a receiver checks it (Standard Webhooks `v1a`, Ed25519), and the
delivery queue's backoff and record, without a network: what an attacker replays, forges or
strips is refused; a failing receiver is tried again later, every attempt kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.common.deliveries import Deliveries, backoff
from services.common.webhooks import SignatureRefused, load_webhook_signer, verify
from services.state.database import Database

BODY = json.dumps({"type": "kmt.alert", "melding_id": "m-1"}).encode()
NOW = 1_800_000_000.0


def test_a_signed_request_verifies_and_every_tampering_is_refused(tmp_path: Path) -> None:
    signer = load_webhook_signer(tmp_path, "alerts")
    other = load_webhook_signer(tmp_path, "sharing")
    headers = signer.headers("alert:m-1:webhook", BODY, now=NOW)
    assert signer.public_key_text.startswith("whpk_")
    assert verify(signer.public_key_text, headers, BODY, now=NOW + 10) == "alert:m-1:webhook"

    refusals = {
        "another body": (signer.public_key_text, headers, BODY + b" "),
        "another sender's key": (other.public_key_text, headers, BODY),
        "another message id": (
            signer.public_key_text, {**headers, "webhook-id": "alert:m-2:webhook"}, BODY,
        ),
        "unsigned": (signer.public_key_text, {"webhook-id": "x"}, BODY),
        "the spec's HMAC scheme instead": (
            signer.public_key_text,
            {**headers, "webhook-signature": "v1," + headers["webhook-signature"][4:]},
            BODY,
        ),
    }  # fmt: skip
    for _what, (key, forged, body) in refusals.items():
        with pytest.raises(SignatureRefused):
            verify(key, forged, body, now=NOW)
    with pytest.raises(SignatureRefused, match="te oud"):  # a replay ten minutes later
        verify(signer.public_key_text, headers, BODY, now=NOW + 600)


def test_a_failing_delivery_is_retried_with_backoff_then_given_up_all_attempts_kept(
    tmp_path: Path,
) -> None:
    clock = [NOW]
    store = Deliveries(Database.on_sqlite(tmp_path / "alerts.db"), "alert_", "alerts",
                       clock=lambda: clock[0])  # fmt: skip
    store.enqueue("alert:m-1:webhook", "webhook", "https://oncall.test", "{}", 3.0)
    store.enqueue("alert:m-1:webhook", "webhook", "https://oncall.test", "{}", 3.0)  # again
    states = []
    while (due := store.claim_due()) or clock[0] < NOW + 10:
        for delivery in due:
            states.append(store.record(delivery, False, "HTTP 503"))
        clock[0] += 0.25
    assert states == ["wachtend", "wachtend", "opgegeven"]  # 0.5 s, 1 s, then past 3 s
    attempts = list(reversed(store.attempts()))
    assert [(a.attempt, a.taken, a.outcome, a.state) for a in attempts] == [
        (1, False, "HTTP 503", "opgegeven"),
        (2, False, "HTTP 503", "opgegeven"),
        (3, False, "HTTP 503", "opgegeven"),
    ]
    assert [backoff(n) for n in (1, 2, 3, 20)] == [0.5, 1.0, 2.0, 60.0]
