"""A ledger entry: its fields, its canonical form and its hash.

The entry hash is the SHA-256 of the canonical JSON (sorted keys, no whitespace, UTF-8) of
every field except `entry_hash` itself, so `seq` and `prev_hash` are bound into it: an entry
cannot be edited, moved or dropped without breaking its own hash or the next one's link.

Entries hold ids, data-category paths, rule ids with their Dutch texts, hashes and keyed
pseudonyms; never values of a melding. This module depends on the standard library only, so
the standalone verifier can use it with nothing but an export and a public key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from json.encoder import encode_basestring
from typing import Any, Literal

EntryType = Literal[
    "melding",
    "decision",
    "disclosure",
    "release",
    "review",
    "ack",
    "policy_change",
    "audit_access",
    "erasure",
    "policy_proposed",
    "policy_dry_run",
    "policy_approved",
    "policy_activated",
    "policy_rolled_back",
    "policy_refused",
    "alert",
]
GENESIS_HASH = "0" * 64
REASON_SEPARATOR = ": "
"""Between a reason's rule id (which never contains it) and its Dutch text."""

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
    """A decision's reasons as `rule: Dutch text` (see `reason_parts`); an erasure's ground."""
    policy_revision: str | None = None
    disclosure_id: str | None = None
    ciphertext_sha256: str | None = None
    """A disclosure's ciphertext; in a policy lifecycle entry, the version's signed bundle."""
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
        values = {name: getattr(self, name) for name in COLUMNS}
        for name in LIST_FIELDS:
            values[name] = list(values[name])
        return values


def reason_parts(reason: str) -> tuple[str, str | None]:
    """The rule id and Dutch text of a recorded reason; no text for an entry recorded before
    the texts were kept (or an erasure's ground)."""
    rule, separator, text = reason.partition(REASON_SEPARATOR)
    return (rule, text) if separator else (rule, None)


COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclass_fields(Entry))
"""Column order of the stores: the dataclass field order."""
DRAFT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclass_fields(Draft))
HASHED: tuple[str, ...] = tuple(sorted(c for c in COLUMNS if c != "entry_hash"))
POSITION = {name: i for i, name in enumerate(COLUMNS)}
"""Where each field sits in a stored row (a tuple in `COLUMNS` order)."""
_KINDS = {"seq": "int", "allow": "bool"} | dict.fromkeys(LIST_FIELDS, "list")
_BY_NAME = tuple((f'"{name}":', _KINDS.get(name, "str"), name) for name in HASHED)
_BY_POSITION = tuple((prefix, kind, POSITION[name]) for prefix, kind, name in _BY_NAME)


def dump_list(values: Sequence[str]) -> str:
    """Canonical JSON of a list of strings (what `json.dumps` gives, faster)."""
    return "[" + ",".join(map(encode_basestring, values)) + "]"


def canonical_bytes(values: Mapping[str, Any]) -> bytes:
    """Canonical JSON of the hashed fields; list fields may be given as canonical JSON text.

    Equal to `json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False)` of
    the entry with real lists, built by hand because `verify` does it a million times.
    `TypeError` when a field holds a value of the wrong type (a tampered row).
    """
    return _canonical(values, _BY_NAME)


def _canonical(source: Any, plan: tuple[tuple[str, str, Any], ...]) -> bytes:
    parts = []
    for prefix, kind, key in plan:
        value = source[key]
        if kind == "str":
            parts.append(prefix + ("null" if value is None else encode_basestring(value)))
        elif value is None:
            parts.append(prefix + "null")
        elif kind == "list":
            parts.append(prefix + (value if isinstance(value, str) else dump_list(value)))
        elif kind == "bool":
            parts.append(prefix + ("true" if value else "false"))
        else:
            parts.append(prefix + str(int(value)))
    return ("{" + ",".join(parts) + "}").encode()


def entry_hash(values: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(values)).hexdigest()


def row_hash(row: Sequence[Any]) -> str:
    """The entry hash recomputed from a stored row (SQLite's 0/1 `allow` hashes as a bool)."""
    return hashlib.sha256(_canonical(row, _BY_POSITION)).hexdigest()


def seal(draft: Draft, *, seq: int, recorded_at: str, prev_hash: str) -> Entry:
    values = {name: getattr(draft, name) for name in DRAFT_FIELDS}
    values.update(seq=seq, recorded_at=recorded_at, prev_hash=prev_hash)
    return Entry(**values, entry_hash=entry_hash(values))


def values_of(row: Sequence[Any]) -> dict[str, Any]:
    """A stored row as the entry's field values (list fields still as canonical JSON text)."""
    values = dict(zip(COLUMNS, row, strict=True))
    if values["allow"] is not None:
        values["allow"] = bool(values["allow"])
    return values


def entry_of(row: Sequence[Any]) -> Entry:
    values = values_of(row)
    for name in LIST_FIELDS:
        values[name] = tuple(json.loads(values[name]))
    return Entry(**values)


def row_params(entry: Entry) -> list[Any]:
    values = entry.as_dict()
    return [dump_list(values[c]) if c in LIST_FIELDS else values[c] for c in COLUMNS]
