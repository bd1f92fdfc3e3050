"""What a ledger backend provides: a connection, its SQL dialect and its schema."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

Row = tuple[Any, ...]


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any: ...
    def fetchone(self) -> Row | None: ...
    def fetchall(self) -> list[Row]: ...


class Store(Protocol):
    """SQL is written with `?` placeholders; `sql()` turns it into the backend's dialect."""

    name: str

    def sql(self, query: str) -> str: ...

    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """A condition `column` is one of `values`, and its parameters."""
        ...

    def contains(self, column: str) -> str:
        """A condition: the JSON list in `column` contains the parameter."""
        ...

    def writing(self) -> AbstractContextManager[Cursor]:
        """A transaction that holds the ledger's append lock until it commits."""
        ...

    def reading(self) -> AbstractContextManager[Cursor]:
        """A read-only transaction on one consistent snapshot, on a connection of its own:
        it never waits for the append lock, and appends never wait for it."""
        ...

    def pruning(self) -> AbstractContextManager[Cursor]:
        """A write transaction that may delete below a prune it records itself."""
        ...

    def may_prune(self) -> bool:
        """Whether this connection's role may prune (PostgreSQL: only the owner may)."""
        ...

    def close(self) -> None: ...


def ledger_tables(integer: str, boolean: str) -> str:
    """The ledger's tables in a backend's dialect: its type names for integers and booleans.
    One description, so the two backends cannot drift apart."""
    return f"""
CREATE TABLE IF NOT EXISTS entries (
    seq {integer} PRIMARY KEY, type TEXT NOT NULL, event_id TEXT NOT NULL UNIQUE,
    actor TEXT NOT NULL, event_type TEXT, melding_id TEXT, recipient TEXT, municipality TEXT,
    allow {boolean}, purpose TEXT, legal_basis TEXT NOT NULL, fields TEXT NOT NULL,
    obligations TEXT NOT NULL, reasons TEXT NOT NULL, policy_revision TEXT,
    disclosure_id TEXT, ciphertext_sha256 TEXT, subject_pseudonyms TEXT NOT NULL,
    trace_id TEXT, recorded_at TEXT NOT NULL, prev_hash TEXT NOT NULL,
    entry_hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_melding ON entries (melding_id, seq);
CREATE INDEX IF NOT EXISTS entries_recorded ON entries (recorded_at, seq);
CREATE TABLE IF NOT EXISTS subjects (
    pseudonym TEXT NOT NULL, melding_id TEXT NOT NULL, seq {integer} NOT NULL,
    PRIMARY KEY (pseudonym, melding_id)
);
CREATE TABLE IF NOT EXISTS cases (
    melding_id TEXT PRIMARY KEY, seq {integer} NOT NULL, received_at TEXT NOT NULL,
    reporter_type TEXT NOT NULL, municipality TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS figures (
    year {integer} NOT NULL, dimension TEXT NOT NULL, category TEXT NOT NULL,
    tally {integer} NOT NULL, PRIMARY KEY (year, dimension, category)
);
CREATE TABLE IF NOT EXISTS checkpoints (
    size {integer} PRIMARY KEY, root_hash TEXT NOT NULL, frontier TEXT NOT NULL,
    note TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tree_nodes (
    id {integer} PRIMARY KEY, hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS prunes (
    min_seq {integer} PRIMARY KEY, prev_hash TEXT NOT NULL, frontier TEXT NOT NULL,
    archive_sha256 TEXT NOT NULL, pruned_at TEXT NOT NULL, signature TEXT
);
"""


ADDED_COLUMNS = (("prunes", "signature", "TEXT"),)
"""Columns added after a table was first released, as (table, column, type): each backend
adds those an older database lacks. `prunes.signature` stays NULL on rows written before it
existed, and `verify` reports those records as unsigned."""
