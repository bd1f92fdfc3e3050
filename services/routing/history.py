"""Routing's history of policy inputs: for every melding it decided, the input it asked the
policy (the melding's `PolicyFacts`, never identities or free text) and what it decided per
recipient, so that `kmt policy dry-run` can put a candidate policy to every past melding.

Kept in routing's state database (`services.state`: `data_dir/routing.db`, or PostgreSQL
with `KMT_STATE_DB_URL`, migrated by `kmt state init-db routing`), each record encrypted
(AES-256-GCM, bound to its melding id) under a key of its own. That key is one of the
melding's data keys in the key store (`services.keyring.datakeys`), wrapped under routing's
secret (`services.keyring.vault.input_key`), so erasing the melding (`kmt erase`, the
retention job) destroys it with the melding's other keys: from then on the record, in the
database and in every backup or replica of it, is unreadable, and a dry run passes it by.
Against an insider this holds where deleting rows would not: a DBA or a backup of the state
database sees ciphertext only (deleted rows live on in backups, replicas and the write-ahead
log), the key store alone does not open a key without routing's secret, and the eraser
needs no rights on routing's tables. A melding whose keys are already gone (or were never
made: no such melding) gets no record.
"""

from __future__ import annotations

import base64
import json
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.common.facts import MeldingReceived
from services.common.models import RECIPIENTS, Decision
from services.common.settings import Settings
from services.keyring.datakeys import DataKeyStore
from services.keyring.vault import input_key
from services.policy.engine import build_input
from services.state.database import Database, open_state

SCHEMA = """
CREATE TABLE IF NOT EXISTS policy_inputs (
    melding_id TEXT PRIMARY KEY, decided_at TEXT NOT NULL, sealed TEXT NOT NULL);
"""
GRANTS = {"policy_inputs": "SELECT, INSERT"}
"""What routing's writer role may do in PostgreSQL: keep records and read them back."""
DRY_RUN_GRANTS = {"policy_inputs": "SELECT"}
"""What the dry run's role may do: read the records, never add or change one."""
READER = "routing"
KEY_SUFFIX = "/beleidsinvoer"


@dataclass(frozen=True)
class Stored:
    """One melding's stored input as a dry run reads it."""

    melding_id: str
    input: dict[str, Any]
    """The policy input routing asked (all recipients, rule `decisions`)."""
    policy_revision: str
    decided: dict[str, dict[str, Any]]
    """Per recipient what routing decided: `outcome(decision)`."""


def outcome(decision: Decision) -> dict[str, Any]:
    """What a dry run compares of a decision: allow, fields, obligations, legal basis and the
    rules of its reasons (the first is the recipient's own)."""
    return {
        "allow": decision.allow,
        "fields": list(decision.fields),
        "obligations": list(decision.obligations),
        "legal_basis": list(decision.legal_basis),
        "rules": [reason.rule for reason in decision.reasons],
    }


class PolicyInputs:
    """The store; one per routing process (and one per dry run)."""

    def __init__(self, db: Database, keys: DataKeyStore, secret: bytes) -> None:
        self._db = db
        self._keys = keys
        self._wrap = AESGCM(secret)
        db.ensure_schema(SCHEMA, list(GRANTS), "routing")

    @classmethod
    def of(cls, settings: Settings) -> PolicyInputs:
        return cls(
            open_state(settings, "routing"), DataKeyStore.of(settings), input_key(settings.keys_dir)
        )

    def keep(self, melding: MeldingReceived, decisions: list[Decision], at: datetime) -> bool:
        """Store what routing asked and decided for `melding` (once: a redelivery keeps the
        first); False when the melding has no data key (erased, or never sealed)."""
        melding_id = str(melding.melding_id)
        key = self._data_key(melding_id)
        if key is None:
            return False
        record = {
            "input": build_input(melding.facts, RECIPIENTS, at),
            "policy_revision": decisions[0].policy_revision,
            "decided": {d.recipient: outcome(d) for d in decisions},
        }
        plain = zlib.compress(json.dumps(record, separators=(",", ":")).encode(), 6)
        self._db.execute(
            "INSERT INTO policy_inputs VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (melding_id, at.isoformat(), _seal(AESGCM(key), plain, melding_id.encode())),
        )
        return True

    def _data_key(self, melding_id: str) -> bytes | None:
        key_id = melding_id + KEY_SUFFIX
        fresh = os.urandom(32)
        wrapped = _seal(self._wrap, fresh, key_id.encode())
        if self._keys.create_while_known(key_id, melding_id, {READER: wrapped}):
            return fresh
        existing = self._keys.wrapped(key_id, melding_id, READER)  # a redelivery
        return None if existing is None else _open(self._wrap, existing, key_id.encode())

    def count(self) -> int:
        row = self._db.execute("SELECT count(*) FROM policy_inputs").fetchone()
        return int(row[0]) if row else 0

    def batches(self, size: int) -> Iterator[tuple[list[Stored], int]]:
        """Every readable record, `size` at a time in melding id order, each batch with how
        many of its rows were passed by because their melding was erased."""
        after = ""
        while True:
            rows = self._db.execute(
                "SELECT melding_id, sealed FROM policy_inputs WHERE melding_id > ?"
                " ORDER BY melding_id LIMIT ?",
                (after, size),
            ).fetchall()
            if not rows:
                return
            after = str(rows[-1][0])
            keys = self._keys.wrapped_many([f"{r[0]}{KEY_SUFFIX}" for r in rows], READER)
            found = []
            for melding_id, sealed in rows:
                key_id = f"{melding_id}{KEY_SUFFIX}"
                if key_id in keys:
                    found.append(self._read(str(melding_id), str(sealed), keys[key_id]))
            yield found, len(rows) - len(found)

    def _read(self, melding_id: str, sealed: str, wrapped: str) -> Stored:
        key = _open(self._wrap, wrapped, f"{melding_id}{KEY_SUFFIX}".encode())
        record = json.loads(zlib.decompress(_open(AESGCM(key), sealed, melding_id.encode())))
        return Stored(melding_id, record["input"], record["policy_revision"], record["decided"])

    def close(self) -> None:
        self._db.close()
        self._keys.close()


class RecordBroken(ValueError):
    """A stored record or key does not open: altered, or moved to another melding."""


def _seal(aead: AESGCM, plain: bytes, bound_to: bytes) -> str:
    nonce = os.urandom(12)
    return base64.b64encode(nonce + aead.encrypt(nonce, plain, bound_to)).decode()


def _open(aead: AESGCM, sealed: str, bound_to: bytes) -> bytes:
    raw = base64.b64decode(sealed)
    try:
        return aead.decrypt(raw[:12], raw[12:], bound_to)
    except InvalidTag:
        raise RecordBroken(
            "opgeslagen beleidsinvoer onleesbaar of van een andere melding"
        ) from None
