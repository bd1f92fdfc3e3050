"""The sharing service's own state: meldingen waiting for their decisions, processed
decisions, the sealed disclosures with their release status, and the outgoing events.

Every change that others must learn of is committed together with the event that announces
it (`enqueue`, inside the same `transaction`); `services.bus.relay` publishes those events
until the broker acknowledged them. A change is therefore never made without its event,
whichever publish fails or whenever the process dies.

A melding is kept only until its three decisions are processed, then deleted, and meanwhile
encrypted (AES-256-GCM under the store key, bound to its melding id). Disclosures hold only
the JWE and non-personal metadata.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.bus.relay import Pending
from services.common.events import CloudEvent
from services.common.keys import load_or_create_secret
from services.common.settings import Settings

SCHEMA = """
CREATE TABLE IF NOT EXISTS meldingen (
    melding_id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meldingen_done (melding_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS decisions (
    event_id TEXT PRIMARY KEY, melding_id TEXT NOT NULL, recipient TEXT NOT NULL,
    body TEXT NOT NULL, processed INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS decisions_by_melding ON decisions (melding_id, processed);
CREATE TABLE IF NOT EXISTS disclosures (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    disclosure_id TEXT NOT NULL UNIQUE,
    decision_event_id TEXT NOT NULL,
    melding_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    event TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    needs_review INTEGER NOT NULL,
    audit_seq INTEGER,
    audit_entry_hash TEXT,
    review TEXT,
    reviewer TEXT,
    released_at TEXT,
    release_seq INTEGER UNIQUE,
    acked_at TEXT);
CREATE INDEX IF NOT EXISTS disclosures_by_partner ON disclosures (partner_id, release_seq);
CREATE TABLE IF NOT EXISTS outgoing (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    event TEXT NOT NULL);
"""


@dataclass(frozen=True)
class StoredDisclosure:
    seq: int
    disclosure_id: str
    melding_id: str
    recipient: str
    partner_id: str
    event: dict[str, Any]
    created_at: str
    expires_at: str | None
    needs_review: bool
    audit_seq: int | None
    review: str | None
    released_at: str | None
    acked_at: str | None
    audit_entry_hash: str | None = None
    """With `audit_seq`: what the recipient checks an inclusion proof against."""
    release_seq: int | None = None
    """Position in release order: the partner API's cursor (release order is not creation
    order: a disclosure waiting for review or for its receipt is released later)."""


STORE_KEY_FILE = "sharing-store-key.json"


def open_outbox(settings: Settings) -> Outbox:
    """The outbox in `settings.data_dir`, with its store key from `settings.keys_dir`."""
    key = load_or_create_secret(settings.keys_dir / "sharing" / STORE_KEY_FILE, "aes256gcm")
    return Outbox(settings.data_dir / "sharing.db", key)


class Outbox:
    def __init__(self, path: Path, store_key: bytes) -> None:
        self._cipher = AESGCM(store_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        self._depth = 0
        self._enqueued = False
        self._listeners: list[Callable[[], None]] = []
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One transaction; a transaction opened inside another joins it, so a caller can
        make several changes and their events one atomic whole."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._db
                finally:
                    self._depth -= 1
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._depth, self._enqueued = 1, False
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
            finally:
                self._depth = 0
            if self._enqueued:
                for listener in self._listeners:
                    listener()

    # outgoing events (the relay's side: services.bus.relay.PendingEvents) ---------------

    def enqueue(self, topic: str, event: CloudEvent) -> None:
        """Publish `event` once the enclosing transaction commits (never if it rolls back)."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO outgoing (event_id, topic, event) VALUES (?, ?, ?)",
                (event.id, topic, event.model_dump_json()),
            )
            self._enqueued = True

    def pending(self, limit: int) -> list[Pending]:
        with self._lock:
            rows = self._db.execute(
                "SELECT position, topic, event FROM outgoing ORDER BY position LIMIT ?", (limit,)
            ).fetchall()
        return [Pending(r[0], r[1], CloudEvent.model_validate_json(r[2])) for r in rows]

    def delivered(self, position: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM outgoing WHERE position = ?", (position,))

    def on_commit(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    # meldingen and decisions -------------------------------------------------------------

    def keep_melding(self, melding_id: str, body: str) -> bool:
        """Keep a melding until its decisions are processed; False if it was done already."""
        with self.transaction() as db:
            if db.execute(
                "SELECT 1 FROM meldingen_done WHERE melding_id = ?", (melding_id,)
            ).fetchone():
                return False
            sealed = self._encrypt(melding_id, body)
            db.execute("INSERT OR IGNORE INTO meldingen VALUES (?, ?)", (melding_id, sealed))
            return True

    def melding(self, melding_id: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM meldingen WHERE melding_id = ?", (melding_id,)
            ).fetchone()
        return None if row is None else self._decrypt(melding_id, str(row[0]))

    def _encrypt(self, melding_id: str, body: str) -> str:
        nonce = os.urandom(12)
        sealed = self._cipher.encrypt(nonce, body.encode(), melding_id.encode())
        return base64.b64encode(nonce + sealed).decode()

    def _decrypt(self, melding_id: str, stored: str) -> str:
        raw = base64.b64decode(stored)
        return self._cipher.decrypt(raw[:12], raw[12:], melding_id.encode()).decode()

    def keep_decision(self, event_id: str, melding_id: str, recipient: str, body: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO decisions (event_id, melding_id, recipient, body) "
                "VALUES (?, ?, ?, ?)",
                (event_id, melding_id, recipient, body),
            )

    def unprocessed_decisions(self, melding_id: str) -> list[tuple[str, str]]:
        """(event id, body) of the decisions for this melding still to be processed."""
        with self._lock:
            rows = self._db.execute(
                "SELECT event_id, body FROM decisions WHERE melding_id = ? AND processed = 0 "
                "ORDER BY recipient",
                (melding_id,),
            ).fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]

    def drop_decision(self, event_id: str) -> None:
        """Forget a decision that was refused before it was processed (it never counts)."""
        with self.transaction() as db:
            db.execute("DELETE FROM decisions WHERE event_id = ? AND processed = 0", (event_id,))

    def is_processed(self, event_id: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT processed FROM decisions WHERE event_id = ?", (event_id,)
            ).fetchone()
        return bool(row and row[0])

    def finish_decision(
        self, event_id: str, melding_id: str, disclosures: list[StoredDisclosure], recipients: int
    ) -> bool:
        """Store the decision's disclosures and mark it processed, in one transaction; once
        all `recipients` decisions of the melding are processed its plaintext is deleted.
        False (and nothing stored) if the decision was processed already."""
        with self.transaction() as db:
            if self.is_processed(event_id):
                return False
            for d in disclosures:
                db.execute(
                    "INSERT OR IGNORE INTO disclosures (disclosure_id, decision_event_id, "
                    "melding_id, recipient, partner_id, event, created_at, expires_at, "
                    "needs_review) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        d.disclosure_id,
                        event_id,
                        d.melding_id,
                        d.recipient,
                        d.partner_id,
                        json.dumps(d.event),
                        d.created_at,
                        d.expires_at,
                        int(d.needs_review),
                    ),
                )
            db.execute(
                "UPDATE decisions SET processed = 1, body = '' WHERE event_id = ?", (event_id,)
            )
            (done,) = db.execute(
                "SELECT COUNT(DISTINCT recipient) FROM decisions"
                " WHERE melding_id = ? AND processed = 1",
                (melding_id,),
            ).fetchone()
            if done >= recipients:
                db.execute("DELETE FROM meldingen WHERE melding_id = ?", (melding_id,))
                db.execute("INSERT OR IGNORE INTO meldingen_done VALUES (?)", (melding_id,))
        return True

    # disclosures -------------------------------------------------------------------------

    def disclosure(self, disclosure_id: str) -> StoredDisclosure | None:
        found = self._select("disclosure_id = ?", (disclosure_id,))
        return found[0] if found else None

    def record_receipt(
        self, disclosure_id: str, audit_seq: int, entry_hash: str
    ) -> StoredDisclosure | None:
        with self.transaction() as db:
            db.execute(
                "UPDATE disclosures SET audit_seq = ?, audit_entry_hash = ? "
                "WHERE disclosure_id = ? AND audit_seq IS NULL",
                (audit_seq, entry_hash, disclosure_id),
            )
        return self.disclosure(disclosure_id)

    def record_review(self, disclosure_id: str, review: str, reviewer: str) -> bool:
        """Record the first review only; False if it was reviewed already."""
        with self.transaction() as db:
            changed = db.execute(
                "UPDATE disclosures SET review = ?, reviewer = ? WHERE disclosure_id = ? "
                "AND review IS NULL",
                (review, reviewer, disclosure_id),
            ).rowcount
        return changed == 1

    def release(self, disclosure_id: str, at: datetime) -> bool:
        """Release once; False if it was released already."""
        with self.transaction() as db:
            changed = db.execute(
                "UPDATE disclosures SET released_at = ?, release_seq = "
                "(SELECT COALESCE(MAX(release_seq), 0) + 1 FROM disclosures) "
                "WHERE disclosure_id = ? AND released_at IS NULL",
                (at.isoformat(), disclosure_id),
            ).rowcount
        return changed == 1

    def acknowledge(self, disclosure_id: str, at: datetime) -> bool:
        """Record the first acknowledgement only; False if it was acknowledged already."""
        with self.transaction() as db:
            changed = db.execute(
                "UPDATE disclosures SET acked_at = ? WHERE disclosure_id = ? AND acked_at IS NULL",
                (at.isoformat(), disclosure_id),
            ).rowcount
        return changed == 1

    def released_for(
        self, partner_id: str, after: int, now: datetime, limit: int
    ) -> list[StoredDisclosure]:
        """The partner's released, unexpired disclosures after release position `after`."""
        return self._select(
            "partner_id = ? AND release_seq > ? "
            "AND (expires_at IS NULL OR expires_at > ?) ORDER BY release_seq LIMIT ?",
            (partner_id, after, now.isoformat(), limit),
        )

    def awaiting_review(self) -> list[StoredDisclosure]:
        return self._select("needs_review = 1 AND review IS NULL ORDER BY seq", ())

    def _select(self, where: str, params: tuple[Any, ...]) -> list[StoredDisclosure]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, disclosure_id, melding_id, recipient, partner_id, event, "
                "created_at, expires_at, needs_review, audit_seq, review, released_at, acked_at, "
                "audit_entry_hash, release_seq "
                f"FROM disclosures WHERE {where}",
                params,
            ).fetchall()
        return [_disclosure(r) for r in rows]

    def close(self) -> None:
        self._db.close()


def _disclosure(r: Any) -> StoredDisclosure:
    return StoredDisclosure(
        seq=r[0],
        disclosure_id=r[1],
        melding_id=r[2],
        recipient=r[3],
        partner_id=r[4],
        event=json.loads(r[5]),
        created_at=r[6],
        expires_at=r[7],
        needs_review=bool(r[8]),
        audit_seq=r[9],
        review=r[10],
        released_at=r[11],
        acked_at=r[12],
        audit_entry_hash=r[13],
        release_seq=r[14],
    )
