"""Idempotency keys for `POST /v1/meldingen`: a retried request gets the same melding.

Stores ids and a keyed hash of the request only, never the melding itself: an HMAC-SHA-256
under intake's own secret (`<keys_dir>/intake/idempotency-key.json`), so a stored hash of a
minimal melding cannot be confirmed by guessing the melding. A record lives
`idempotency_retention_hours`; expired records are purged on every write, and their key may
then be used again. A key whose publish was not confirmed is republished with the same event
id on retry, so consumers dedupe it.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from services.common.keys import load_or_create_secret
from services.common.settings import Settings

KEY_FILE = "idempotency-key.json"


@dataclass(frozen=True)
class Reservation:
    request_mac: str
    melding_id: str
    event_id: str
    received_at: str
    published: bool


class IdempotencyStore:
    def __init__(
        self,
        path: Path,
        key: bytes,
        retention: timedelta,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if retention <= timedelta(0):
            raise ValueError("de bewaartermijn van Idempotency-Keys moet positief zijn")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._key = key
        self._retention_s = retention.total_seconds()
        self._clock = clock
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        # The former table held unkeyed SHA-256 hashes without an expiry: not kept.
        self._db.execute("DROP TABLE IF EXISTS idempotency_keys")
        self._db.execute(
            """CREATE TABLE IF NOT EXISTS idempotency_records (
                partner_id TEXT NOT NULL, key TEXT NOT NULL, request_mac TEXT NOT NULL,
                melding_id TEXT NOT NULL, event_id TEXT NOT NULL, received_at TEXT NOT NULL,
                published INTEGER NOT NULL DEFAULT 0, expires_at REAL NOT NULL,
                PRIMARY KEY (partner_id, key))"""
        )
        self._db.execute(
            "CREATE INDEX IF NOT EXISTS idempotency_expiry ON idempotency_records (expires_at)"
        )

    @classmethod
    def of(cls, settings: Settings) -> IdempotencyStore:
        """The store in `data_dir/intake.db`, keyed by intake's own secret."""
        return cls(
            settings.data_dir / "intake.db",
            load_or_create_secret(settings.keys_dir / "intake" / KEY_FILE, "hmac_sha256"),
            timedelta(hours=settings.idempotency_retention_hours),
        )

    def request_mac(self, request: bytes) -> str:
        """HMAC-SHA-256 (hex) of the request under this store's key."""
        return hmac.new(self._key, request, hashlib.sha256).hexdigest()

    def reserve(self, partner_id: str, key: str, candidate: Reservation) -> Reservation:
        """Store `candidate` unless the key is known; return what is stored for the key.

        Expired records are purged first, so an expired key is reserved anew."""
        now = self._clock()
        with self._lock:
            self._db.execute("DELETE FROM idempotency_records WHERE expires_at <= ?", (now,))
            self._db.execute(
                "INSERT OR IGNORE INTO idempotency_records VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
                (
                    partner_id,
                    key,
                    candidate.request_mac,
                    candidate.melding_id,
                    candidate.event_id,
                    candidate.received_at,
                    now + self._retention_s,
                ),
            )
            row = self._db.execute(
                "SELECT request_mac, melding_id, event_id, received_at, published "
                "FROM idempotency_records WHERE partner_id = ? AND key = ?",
                (partner_id, key),
            ).fetchone()
        return Reservation(row[0], row[1], row[2], row[3], bool(row[4]))

    def mark_published(self, partner_id: str, key: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE idempotency_records SET published = 1 WHERE partner_id = ? AND key = ?",
                (partner_id, key),
            )

    def close(self) -> None:
        self._db.close()
