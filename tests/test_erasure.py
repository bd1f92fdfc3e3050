"""Crypto-shredding (AVG art. 17, end of a retention term): after `kmt erase` no copy of the
melding can be read by any service or admin command, on any topic or in any store, while the
trail, its proofs and `kmt audit verify` still hold. And before it, nothing personal was
readable on disk anyway: every file the system wrote, broker segments included, is clean."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.audit.backends import open_ledger
from services.audit.erasure import erase_expired
from services.common.facts import MeldingReceived
from services.common.settings import Settings
from services.common.topics import MELDINGEN
from services.devstack.paths import REPO
from services.devstack.services import environment
from services.keyring.datakeys import DataKeyStore
from services.keyring.vault import READERS, MeldingErased, Opener
from tests.conftest import Infra
from tests.stack import Stack, eventually, read_events, submission
from tests.test_end_to_end import complete_trail

pytestmark = pytest.mark.integration
MELDING = submission("02.json")
IDENTIFYING = [
    MELDING["victim"]["name"],
    MELDING["victim"]["bsn"],
    MELDING["signals"]["narrative"][:40],
]


def kmt(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=REPO,
        env=environment(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


def files_holding(roots: list[Path], needles: list[str]) -> list[str]:
    found = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                content = path.read_bytes()
                found += [f"{path}: {n}" for n in needles if n.encode() in content]
    return found


def test_no_file_on_disk_holds_the_melding_in_the_clear(stack: Stack, infra: Infra) -> None:
    melding_id = stack.submit(MELDING)
    eventually(lambda: complete_trail(stack, melding_id), timeout=90)
    settings = stack.settings
    roots = [settings.data_dir, settings.keys_dir, stack.logs, infra.root / "kafka" / "logs"]
    assert files_holding(roots, IDENTIFYING) == []


def test_after_erasure_nobody_can_read_any_copy_and_the_trail_still_verifies(
    stack: Stack,
) -> None:
    settings = stack.settings
    melding_id = stack.submit(MELDING)
    eventually(lambda: complete_trail(stack, melding_id), timeout=90)
    on_bus = [
        MeldingReceived.model_validate(e["data"])
        for e in read_events(settings, MELDINGEN)
        if e["subject"] == melding_id
    ]
    assert on_bus

    erased = kmt(settings, "erase", melding_id, "--reason", "avg-art-17", "--by", "fg-1")
    assert erased.returncode == 0, erased.stderr
    assert "gewist" in erased.stdout

    store = DataKeyStore.of(settings)
    try:
        assert not store.knows(melding_id)
        for reader in READERS:  # the services' own keys no longer open the bus copy
            opener = Opener.load(settings.keys_dir, reader, store)
            for copy in on_bus:
                with pytest.raises(MeldingErased):
                    opener.open(melding_id, copy.sealed)
    finally:
        store.close()

    verified = kmt(settings, "audit", "verify")
    assert verified.returncode == 0, verified.stdout
    trail = stack.audit_entries(melding_id)
    erasure = [e for e in trail if e["type"] == "erasure"]
    assert len(erasure) == 1 and erasure[0]["actor"] == "staff:fg-1"
    assert erasure[0]["reasons"] == ["avg-art-17"]
    assert all(i not in json.dumps(erasure) for i in IDENTIFYING)

    again = kmt(settings, "erase", melding_id, "--reason", "avg-art-17", "--by", "fg-1")
    assert again.returncode == 0  # the same entry, not a second one
    assert len([e for e in stack.audit_entries(melding_id) if e["type"] == "erasure"]) == 1


def test_an_unknown_ground_is_refused_and_changes_nothing(stack: Stack) -> None:
    refused = kmt(stack.settings, "erase", "x", "--reason", "zomaar", "--by", "fg-1")
    assert refused.returncode == 2 and "onbekende grond" in refused.stderr


def test_the_retention_job_erases_only_meldingen_past_their_term(stack: Stack) -> None:
    settings = stack.settings
    melding_id = stack.submit(MELDING)  # RIEC: retention:P2Y, longer than the minimum
    eventually(lambda: complete_trail(stack, melding_id), timeout=90)
    ledger, store = open_ledger(settings), DataKeyStore.of(settings)
    try:
        now = datetime.now(UTC)
        assert melding_id not in [e.melding_id for e in erase_expired(ledger, store, 1, now)]
        later = erase_expired(ledger, store, 1, now + timedelta(days=365))
        assert melding_id not in [e.melding_id for e in later]  # the RIEC keeps 2 years
        done = erase_expired(ledger, store, 1, now + timedelta(days=3 * 365))
        assert melding_id in [e.melding_id for e in done]
        assert not store.knows(melding_id)
    finally:
        ledger.close()
        store.close()
    assert kmt(settings, "audit", "verify").returncode == 0
