"""Idempotency keys for `POST /v1/meldingen`: a retried request gets the same melding.

Stores ids and a keyed hash of the request only, never the melding itself: an HMAC-SHA-256
under intake's own secret (`<keys_dir>/intake/idempotency-key.json`), so a stored hash of a
minimal melding cannot be confirmed by guessing the melding. A record lives
`idempotency_retention_hours`; expired records are purged on every write, and their key may
then be used again. A key whose publish was not confirmed is republished with the same event
id on retry, so consumers dedupe it.

With `KMT_STATE_DB_URL` every intake instance reserves in one PostgreSQL table: the first
reservation of a key wins (`ON CONFLICT DO NOTHING`), and each instance then reads what won,
so a key yields the same melding through whichever instance (the instances share intake's
secret, the `<keys_dir>/intake` folder, so their request hashes agree).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from services.common.keys import load_or_create_secret
from services.common.settings import Settings
from services.state.database import Database, open_state

KEY_FILE = "idempotency-key.json"
SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency_records (
    partner_id TEXT NOT NULL, key TEXT NOT NULL, request_mac TEXT NOT NULL,
    melding_id TEXT NOT NULL, event_id TEXT NOT NULL, received_at TEXT NOT NULL,
    published INTEGER NOT NULL DEFAULT 0, expires_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (partner_id, key));
CREATE INDEX IF NOT EXISTS idempotency_expiry ON idempotency_records (expires_at);
"""
GRANTS = {"idempotency_records": "SELECT, INSERT, UPDATE, DELETE"}
"""What intake's writer role may do in PostgreSQL."""


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
        db: Database,
        key: bytes,
        retention: timedelta,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if retention <= timedelta(0):
            raise ValueError("de bewaartermijn van Idempotency-Keys moet positief zijn")
        self._key = key
        self._retention_s = retention.total_seconds()
        self._clock = clock
        self._db = db
        if not db.postgres:
            # The former table held unkeyed SHA-256 hashes without an expiry: not kept.
            db.execute("DROP TABLE IF EXISTS idempotency_keys")
        db.ensure_schema(SCHEMA, list(GRANTS), "intake")

    @classmethod
    def of(cls, settings: Settings) -> IdempotencyStore:
        """The store in intake's state database (`data_dir/intake.db`, or `state_db_url`),
        keyed by intake's own secret."""
        return cls(
            open_state(settings, "intake"),
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
        with self._db.transaction() as db:
            db.execute("DELETE FROM idempotency_records WHERE expires_at <= ?", (now,))
            db.execute(
                "INSERT INTO idempotency_records VALUES (?, ?, ?, ?, ?, ?, 0, ?)"
                " ON CONFLICT DO NOTHING",
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
            row = db.execute(
                "SELECT request_mac, melding_id, event_id, received_at, published "
                "FROM idempotency_records WHERE partner_id = ? AND key = ?",
                (partner_id, key),
            ).fetchone()
        return Reservation(row[0], row[1], row[2], row[3], bool(row[4]))

    def mark_published(self, partner_id: str, key: str) -> None:
        self._db.execute(
            "UPDATE idempotency_records SET published = 1 WHERE partner_id = ? AND key = ?",
            (partner_id, key),
        )

    def close(self) -> None:
        self._db.close()
