"""Signed prune records: the only thing that may move the ledger's start.

A prune deletes the entries below `min_seq` once they are archived, and leaves a row in
`prunes` with the chain hash and Merkle frontier just below `min_seq`, so what remains still
verifies. Since that row decides where verification starts, anyone who could add one could
hide a deletion. So each record is signed with the checkpoint key (Ed25519), and `verify`
checks every record with the public verifier key alone.

The signed bytes are canonical JSON (sorted keys, no spaces, ASCII) of the record's fields
and a context string, so a prune signature can never pass for a checkpoint note's:

    {"archive_sha256":…,"context":"kmt-twente/audit/v1/prune","frontier":[[start,size,hex],…],
     "min_seq":…,"prev_hash":…,"pruned_at":…}

Standard library and `cryptography` only, like `verify`.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.checkpoint import ORIGIN, BadCheckpoint, parse_verifier_key

CONTEXT = f"{ORIGIN}/prune"
COLUMNS = ("min_seq", "prev_hash", "frontier", "archive_sha256", "pruned_at", "signature")
SELECT_PRUNES = f"SELECT {', '.join(COLUMNS)} FROM prunes ORDER BY min_seq"
INSERT_PRUNE = f"INSERT INTO prunes ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


@dataclass(frozen=True)
class PruneRecord:
    min_seq: int
    prev_hash: str
    frontier: str
    """The Merkle frontier at `min_seq`, as the JSON text stored in the row."""
    archive_sha256: str
    pruned_at: str
    signature: str | None = None
    """base64 of the Ed25519 signature over `statement()`; None when the row has none."""

    @classmethod
    def of(cls, row: Any) -> PruneRecord:
        """From a stored row or an export line's list, in `COLUMNS` order."""
        min_seq, prev_hash, frontier, archive_sha256, pruned_at, signature = row
        return cls(int(min_seq), prev_hash, frontier, archive_sha256, pruned_at, signature)

    def as_row(self) -> tuple[Any, ...]:
        return (
            self.min_seq,
            self.prev_hash,
            self.frontier,
            self.archive_sha256,
            self.pruned_at,
            self.signature,
        )

    def statement(self) -> bytes:
        """The canonical bytes the signature covers; `ValueError` if the frontier is no JSON."""
        body = {
            "context": CONTEXT,
            "min_seq": self.min_seq,
            "prev_hash": self.prev_hash,
            "frontier": json.loads(self.frontier),
            "archive_sha256": self.archive_sha256,
            "pruned_at": self.pruned_at,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def signed(self, key: Ed25519PrivateKey) -> PruneRecord:
        signature = base64.b64encode(key.sign(self.statement())).decode()
        return replace(self, signature=signature)

    def describe(self) -> str:
        return f"opschoning tot seq {self.min_seq} (prunes-record van {self.pruned_at})"


def problem(record: PruneRecord, verifier_key: str) -> str | None:
    """What is wrong with `record` under `verifier_key` (in Dutch), or None when it is good."""
    if not record.signature:
        return f"{record.describe()} is niet ondertekend"
    try:
        _, public = parse_verifier_key(verifier_key)
        signature = base64.b64decode(record.signature, validate=True)
        public.verify(signature, record.statement())
    except BadCheckpoint as exc:
        return f"{record.describe()}: {exc}"
    except (InvalidSignature, ValueError, TypeError):
        return (
            f"{record.describe()}: handtekening klopt niet (andere sleutel, of het record is "
            "gewijzigd)"
        )
    return None
