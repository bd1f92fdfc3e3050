"""A ledger entry: its fields, its canonical form and its hash.

The entry hash is the SHA-256 of the canonical JSON (sorted keys, no whitespace, UTF-8) of
every field except `entry_hash` itself, so `seq` and `prev_hash` are bound into it: an entry
cannot be edited, moved or dropped without breaking its own hash or the next one's link.

Entries hold ids, data-category paths, rule ids, hashes and keyed pseudonyms; never values of
a melding. This module depends on the standard library only, so the standalone verifier can
use it with nothing but an export and a public key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

EntryType = Literal[
    "melding", "decision", "disclosure", "release", "review", "ack", "policy_change", "audit_access"
]
GENESIS_HASH = "0" * 64

LIST_FIELDS = ("legal_basis", "fields", "obligations", "reasons", "subject_pseudonyms")
"""Fields holding lists of strings; the stores keep them as canonical JSON text."""


@dataclass(frozen=True)
class Draft:
    """What a caller asks to record; the ledger adds seq, time and the chain hashes."""

    type: EntryType
    event_id: str
    actor: str
    event_type: str | None = None
    melding_id: str | None = None
    recipient: str | None = None
    municipality: str | None = None
    allow: bool | None = None
    purpose: str | None = None
    legal_basis: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    obligations: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    """Rule ids of the decision's reasons; the reason texts live in the policies."""
    policy_revision: str | None = None
    disclosure_id: str | None = None
    ciphertext_sha256: str | None = None
    subject_pseudonyms: tuple[str, ...] = ()
    trace_id: str | None = None


@dataclass(frozen=True)
class Entry(Draft):
    seq: int = 0
    recorded_at: str = ""
    """RFC 3339 UTC with microseconds and `Z`: sorts as text in both stores."""
    prev_hash: str = GENESIS_HASH
    entry_hash: str = field(default="")

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        for name in LIST_FIELDS:
            values[name] = list(values[name])
        return values


COLUMNS: tuple[str, ...] = tuple(Entry.__dataclass_fields__)
"""Column order of the stores: the dataclass field order."""
HASHED: tuple[str, ...] = tuple(sorted(c for c in COLUMNS if c != "entry_hash"))


def dump_list(values: Sequence[str]) -> str:
    return json.dumps(list(values), ensure_ascii=False, separators=(",", ":"))


def canonical_bytes(values: Mapping[str, Any]) -> bytes:
    """Canonical JSON of the hashed fields; list fields may be given as canonical JSON text.

    Building the object by hand (keys in sorted order, list text spliced in) equals
    `json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False)` of the
    dict with real lists, and is several times faster, which `verify` needs.
    """
    parts = []
    for name in HASHED:
        value = values[name]
        if name in LIST_FIELDS:
            text = value if isinstance(value, str) else dump_list(value)
        else:
            text = json.dumps(value, ensure_ascii=False)
        parts.append(f'"{name}":{text}')
    return ("{" + ",".join(parts) + "}").encode()


def entry_hash(values: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(values)).hexdigest()


def seal(draft: Draft, *, seq: int, recorded_at: str, prev_hash: str) -> Entry:
    unsealed = Entry(**asdict(draft), seq=seq, recorded_at=recorded_at, prev_hash=prev_hash)
    return Entry(**{**asdict(unsealed), "entry_hash": entry_hash(unsealed.as_dict())})
