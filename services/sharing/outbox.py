"""The sharing service's own state: meldingen waiting for their decisions, processed
decisions, the sealed disclosures with their release status, and the outgoing events.

Every change that others must learn of is committed together with the event that announces
it (`enqueue`, inside the same `transaction`); `services.bus.relay` publishes those events
until the broker acknowledged them. A change is therefore never made without its event,
whichever publish fails or whenever the process dies.

A melding is kept, encrypted (AES-256-GCM under the store key, bound to its id), only until
its three decisions are processed. Disclosures hold the JWE and non-personal metadata; one
waiting for review also what the reviewer judges, sealed under the melding's data key.

Several sharing instances share one PostgreSQL outbox (`KMT_STATE_DB_URL`) and store key;
each runs a relay that claims the events it publishes for `LEASE_SECONDS` (rows another
relay claims are passed by), so no two publish the same events, and a dead instance's are
published by another once their claim ran out.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.bus.relay import Pending
from services.common.events import CloudEvent
from services.common.keys import load_or_create_secret
from services.common.settings import Settings
from services.state.database import Database, open_state, serial

LEASE_SECONDS = 15.0
"""A relay's claim on events: long enough to publish a batch, short enough for a takeover."""
RELEASE_LOCK = 0x4B4D54_5245  # "KMT" "RE": one release at a time takes the next release_seq


def schema(postgres: bool) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS meldingen (
    melding_id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meldingen_done (melding_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS decisions (
    event_id TEXT PRIMARY KEY, melding_id TEXT NOT NULL, recipient TEXT NOT NULL,
    body TEXT NOT NULL, processed INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS decisions_by_melding ON decisions (melding_id, processed);
CREATE TABLE IF NOT EXISTS disclosures (
    seq {serial(postgres)},
    disclosure_id TEXT NOT NULL UNIQUE,
    decision_event_id TEXT NOT NULL,
    melding_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    event TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    needs_review INTEGER NOT NULL,
    audit_seq BIGINT,
    audit_entry_hash TEXT,
    review TEXT,
    reviewer TEXT,
    released_at TEXT,
    release_seq BIGINT UNIQUE,
    acked_at TEXT,
    review_brief TEXT,
    review_reason TEXT);
CREATE INDEX IF NOT EXISTS disclosures_by_partner ON disclosures (partner_id, release_seq);
CREATE TABLE IF NOT EXISTS outgoing (
    position {serial(postgres)},
    event_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    event TEXT NOT NULL,
    leased_by TEXT,
    leased_until DOUBLE PRECISION NOT NULL DEFAULT 0);
"""


GRANTS = {
    "meldingen": "SELECT, INSERT, DELETE",
    "meldingen_done": "SELECT, INSERT",
    "decisions": "SELECT, INSERT, UPDATE, DELETE",
    "disclosures": "SELECT, INSERT, UPDATE",
    "outgoing": "SELECT, INSERT, UPDATE, DELETE",
}
"""What sharing's writer role may do in PostgreSQL (a disclosure is never deleted)."""


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
    review_brief: str | None = None  # with `needs_review`, at creation: see `reviews`


STORE_KEY_FILE = "sharing-store-key.json"


def open_outbox(settings: Settings) -> Outbox:
    """The outbox in the state database (`data_dir/sharing.db`, or `state_db_url`), with its
    store key from `settings.keys_dir`."""
    key = load_or_create_secret(settings.keys_dir / "sharing" / STORE_KEY_FILE, "aes256gcm")
    return Outbox(open_state(settings, "sharing"), key)


class Outbox:
    def __init__(
        self, db: Database, store_key: bytes, clock: Callable[[], float] = time.time
    ) -> None:
        self._cipher = AESGCM(store_key)
        self._db = db
        self._clock = clock
        self._relay_id = uuid.uuid4().hex  # this instance's claims on outgoing events
        self._listeners: list[Callable[[], None]] = []
        db.ensure_schema(schema(db.postgres), list(GRANTS), "sharing")
        db.add_column("outgoing", "leased_by", "TEXT")
        db.add_column("outgoing", "leased_until", "DOUBLE PRECISION NOT NULL DEFAULT 0")
        for column in ("review_brief", "review_reason"):
            db.add_column("disclosures", column, "TEXT")

    @property
    def db(self) -> Database:
        """The state database the outbox lives in, for sharing's other tables."""
        return self._db

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """One transaction; a transaction opened inside another joins it, so a caller can
        make several changes and their events one atomic whole."""
        with self._db.transaction() as db:
            yield db

    # outgoing events (the relay's side: services.bus.relay.PendingEvents) ---------------

    def enqueue(self, topic: str, event: CloudEvent) -> None:
        """Publish `event` once the enclosing transaction commits (never if it rolls back)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO outgoing (event_id, topic, event) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (event.id, topic, event.model_dump_json()),
            )
            db.after_commit(self._committed)

    def _committed(self) -> None:
        for listener in self._listeners:
            listener()

    def pending(self, limit: int) -> list[Pending]:
        """Claim the oldest events no other relay is publishing (this relay's own claims
        included, so it retries at once what failed), for `LEASE_SECONDS`."""
        now = self._clock()
        lease = LEASE_SECONDS if self._db.postgres else 0.0  # a SQLite file has one relay
        with self.transaction() as db:
            rows = db.execute(
                "UPDATE outgoing SET leased_by = ?, leased_until = ? WHERE position IN ("
                "SELECT position FROM outgoing WHERE leased_until <= ? OR leased_by = ?"
                f" ORDER BY position LIMIT ?{db.skip_locked}) RETURNING position, topic, event",
                (self._relay_id, now + lease, now, self._relay_id, limit),
            ).fetchall()
        return [
            Pending(r[0], r[1], CloudEvent.model_validate_json(r[2]))
            for r in sorted(rows, key=lambda r: int(r[0]))
        ]

    def delivered(self, *positions: int) -> None:
        """Forget these events, in one statement (one commit)."""
        marks = ", ".join("?" * len(positions))
        self._db.execute(f"DELETE FROM outgoing WHERE position IN ({marks})", positions)

    def on_commit(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    # meldingen and decisions -------------------------------------------------------------

    def keep_melding(self, melding_id: str, body: str) -> bool:
        """Keep a melding until its decisions are processed; False if it was done already.
        Under the melding's lock, as `keep_decision`: across instances each sees the other."""
        with self.transaction() as db:
            db.lock(f"melding:{melding_id}")
            if db.execute(
                "SELECT 1 FROM meldingen_done WHERE melding_id = ?", (melding_id,)
            ).fetchone():
                return False
            sealed = self._encrypt(melding_id, body)
            db.execute(
                "INSERT INTO meldingen VALUES (?, ?) ON CONFLICT DO NOTHING", (melding_id, sealed)
            )
            return True

    def melding(self, melding_id: str) -> str | None:
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
            db.lock(f"melding:{melding_id}")
            db.execute(
                "INSERT INTO decisions (event_id, melding_id, recipient, body) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (event_id, melding_id, recipient, body),
            )

    def unprocessed_decisions(self, melding_id: str) -> list[tuple[str, str]]:
        """(event id, body) of the decisions for this melding still to be processed."""
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
        row = self._db.execute(
            "SELECT processed FROM decisions WHERE event_id = ?", (event_id,)
        ).fetchone()
        return bool(row and row[0])

    def finish_decision(
        self, event_id: str, melding_id: str, disclosures: list[StoredDisclosure], recipients: int
    ) -> bool:
        """Store the decision's disclosures and mark it processed, in one transaction; once
        all `recipients` decisions of the melding are processed its plaintext is deleted.
        False (and nothing stored) if the decision was processed already, also by another
        instance at the same moment: marking it processed comes first and waits for theirs."""
        with self.transaction() as db:
            if not db.execute(
                "UPDATE decisions SET processed = 1, body = ''"
                " WHERE event_id = ? AND processed = 0",
                (event_id,),
            ).rowcount:
                return False
            for d in disclosures:
                db.execute(
                    "INSERT INTO disclosures (disclosure_id, decision_event_id, "
                    "melding_id, recipient, partner_id, event, created_at, expires_at, "
                    "needs_review, review_brief) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT DO NOTHING",
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
                        d.review_brief,
                    ),
                )
            (done,) = db.execute(
                "SELECT COUNT(DISTINCT recipient) FROM decisions"
                " WHERE melding_id = ? AND processed = 1",
                (melding_id,),
            ).fetchone()
            if done >= recipients:
                db.execute("DELETE FROM meldingen WHERE melding_id = ?", (melding_id,))
                db.execute(
                    "INSERT INTO meldingen_done VALUES (?) ON CONFLICT DO NOTHING", (melding_id,)
                )
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

    def record_review(
        self, disclosure_id: str, review: str, reviewer: str, reason: str, event: dict[str, Any]
    ) -> bool:
        """Record the first review only (else False), its sealed reason and the `event` as it
        stays (a rejected one without its ciphertext); the brief goes, its work done."""
        sql = "UPDATE disclosures SET review = ?, reviewer = ?, review_reason = ?, event = ?, "
        sql += "review_brief = NULL WHERE disclosure_id = ? AND review IS NULL"
        with self.transaction() as db:
            params = (review, reviewer, reason, json.dumps(event), disclosure_id)
            return bool(db.execute(sql, params).rowcount == 1)

    def sealed_review(self, disclosure_id: str) -> tuple[str | None, str | None]:
        """The sealed brief (until the verdict) and the sealed reason (after it)."""
        sql = "SELECT review_brief, review_reason FROM disclosures WHERE disclosure_id = ?"
        row = self._db.execute(sql, (disclosure_id,)).fetchone()
        return (None, None) if row is None else (row[0], row[1])

    def release(self, disclosure_id: str, at: datetime) -> bool:
        """Release once; False if it was released already. Releases take their position one
        at a time, so positions are handed out in commit order: a partner's cursor never
        passes a release that is still to commit."""
        with self.transaction() as db:
            db.lock(RELEASE_LOCK)
            changed = db.execute(
                "UPDATE disclosures SET released_at = ?, release_seq = "
                "(SELECT COALESCE(MAX(release_seq), 0) + 1 FROM disclosures) "
                "WHERE disclosure_id = ? AND released_at IS NULL",
                (at.isoformat(), disclosure_id),
            ).rowcount
        return changed == 1

    def acknowledge(self, disclosure_id: str, at: datetime) -> bool:
        """Record the first acknowledgement only; False if it was acknowledged already."""
        sql = "UPDATE disclosures SET acked_at = ? WHERE disclosure_id = ? AND acked_at IS NULL"
        with self.transaction() as db:
            return bool(db.execute(sql, (at.isoformat(), disclosure_id)).rowcount == 1)

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
