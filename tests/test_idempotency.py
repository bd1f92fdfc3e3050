"""Intake's idempotency store: a keyed hash of the request, never a plain one, and records
that expire after the retention period (issue 9 item 16)."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import stat
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from services.common.settings import Settings
from services.intake.idempotency import KEY_FILE, IdempotencyStore, Reservation
from services.state.database import Database

MINIMAL = b'{"exploitation_forms":["overig"],"municipality":"almelo"}'


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def candidate(store: IdempotencyStore, body: bytes = MINIMAL) -> Reservation:
    return Reservation(
        request_mac=store.request_mac(body),
        melding_id=str(uuid.uuid4()),
        event_id=str(uuid.uuid4()),
        received_at="2026-03-02T09:30:00+00:00",
        published=False,
    )


def settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", keys_dir=tmp_path / "keys", **overrides)


def test_the_stored_hash_is_keyed_not_the_plain_sha256(tmp_path: Path) -> None:
    store = IdempotencyStore.of(settings(tmp_path))
    store.reserve("gemeente-almelo", "k1", candidate(store))
    store.close()
    stored = sqlite3.connect(tmp_path / "data" / "intake.db").execute(
        "SELECT request_mac FROM idempotency_records"
    )
    (mac,) = stored.fetchone()
    assert mac != hashlib.sha256(MINIMAL).hexdigest()
    key_file = tmp_path / "keys" / "intake" / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = bytes.fromhex(json.loads(key_file.read_text())["hmac_sha256"])
    assert mac == hmac.new(key, MINIMAL, hashlib.sha256).hexdigest()
    # The same key after a restart: a retry still finds its record.
    again = IdempotencyStore.of(settings(tmp_path))
    assert again.request_mac(MINIMAL) == mac
    again.close()


def test_within_retention_the_key_keeps_its_melding(tmp_path: Path) -> None:
    clock = Clock()
    store = IdempotencyStore(
        Database.on_sqlite(tmp_path / "intake.db"), b"k" * 32, timedelta(hours=2), clock
    )
    first = store.reserve("p", "key", candidate(store))
    clock.now += 2 * 3600 - 1
    retried = store.reserve("p", "key", candidate(store))
    assert retried == first
    other = store.reserve("p", "key", candidate(store, b"{}"))
    assert other.request_mac != store.request_mac(b"{}")  # app.py answers 422
    store.mark_published("p", "key")
    assert store.reserve("p", "key", candidate(store)).published


def test_a_record_past_retention_is_gone_and_its_key_reusable(tmp_path: Path) -> None:
    clock = Clock()
    store = IdempotencyStore(
        Database.on_sqlite(tmp_path / "intake.db"), b"k" * 32, timedelta(hours=2), clock
    )
    first = store.reserve("p", "key", candidate(store))
    store.mark_published("p", "key")
    store.reserve("p", "untouched", candidate(store))
    clock.now += 2 * 3600
    reused = store.reserve("p", "key", candidate(store, b"{}"))
    assert reused.melding_id != first.melding_id
    assert reused.request_mac == store.request_mac(b"{}")
    assert not reused.published
    store.close()
    rows = sqlite3.connect(tmp_path / "intake.db").execute(
        "SELECT key, melding_id FROM idempotency_records"
    )
    # Purged on write: the expired record that was not asked for is gone too.
    assert rows.fetchall() == [("key", reused.melding_id)]


def test_retention_comes_from_settings_and_must_be_positive(tmp_path: Path) -> None:
    assert Settings().idempotency_retention_hours == 24 * 7
    with pytest.raises(ValueError):
        IdempotencyStore.of(settings(tmp_path, idempotency_retention_hours=0))


def test_old_unkeyed_records_are_not_kept(tmp_path: Path) -> None:
    path = tmp_path / "intake.db"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE idempotency_keys (partner_id, key, request_sha256)")
    old.execute(
        "INSERT INTO idempotency_keys VALUES ('p', 'k', ?)", (hashlib.sha256(MINIMAL).hexdigest(),)
    )
    old.commit()
    old.close()
    IdempotencyStore(Database.on_sqlite(path), b"k" * 32, timedelta(hours=1)).close()
    tables = sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    assert [name for (name,) in tables] == ["idempotency_records"]
