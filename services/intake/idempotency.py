"""Idempotency keys for `POST /v1/meldingen`: a retried request gets the same melding.

Stores ids and a hash of the request only, never the melding itself. A key whose publish was
not confirmed is republished with the same event id on retry, so consumers dedupe it.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Reservation:
    request_sha256: str
    melding_id: str
    event_id: str
    received_at: str
    published: bool


class IdempotencyStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            """CREATE TABLE IF NOT EXISTS idempotency_keys (
                partner_id TEXT NOT NULL, key TEXT NOT NULL, request_sha256 TEXT NOT NULL,
                melding_id TEXT NOT NULL, event_id TEXT NOT NULL, received_at TEXT NOT NULL,
                published INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (partner_id, key))"""
        )

    def reserve(self, partner_id: str, key: str, candidate: Reservation) -> Reservation:
        """Store `candidate` unless the key is known; return what is stored for the key."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO idempotency_keys VALUES (?, ?, ?, ?, ?, ?, 0)",
                (
                    partner_id,
                    key,
                    candidate.request_sha256,
                    candidate.melding_id,
                    candidate.event_id,
                    candidate.received_at,
                ),
            )
            row = self._db.execute(
                "SELECT request_sha256, melding_id, event_id, received_at, published "
                "FROM idempotency_keys WHERE partner_id = ? AND key = ?",
                (partner_id, key),
            ).fetchone()
        return Reservation(row[0], row[1], row[2], row[3], bool(row[4]))

    def mark_published(self, partner_id: str, key: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE idempotency_keys SET published = 1 WHERE partner_id = ? AND key = ?",
                (partner_id, key),
            )

    def close(self) -> None:
        self._db.close()
