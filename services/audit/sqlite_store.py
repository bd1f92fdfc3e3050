"""SQLite ledger backend: one file, WAL, triggers that refuse UPDATE and DELETE.

Two connections: one writes (serialised by a lock, `BEGIN IMMEDIATE`), one reads (read-only,
its own lock). WAL gives every read transaction a snapshot of what was committed when it
began, so reads such as proofs neither wait for appends nor hold them up.

Whoever can write the file can also drop the triggers: they stop mistakes, and `verify`
finds what they cannot stop.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from services.audit.store import ADDED_COLUMNS, Cursor, ledger_tables

SCHEMA = ledger_tables(integer="INTEGER", boolean="INTEGER")

_HORIZON = "(SELECT COALESCE(MAX(min_seq), 0) FROM prunes WHERE min_seq = last_insert_rowid())"
"""Entries below a prune may be deleted only by the connection that has just recorded that
prune: `min_seq` is the rowid of `prunes`, so `last_insert_rowid()` names it. An older or
forged row in `prunes` opens nothing for anyone else (and `verify` checks its signature)."""
_TRIGGERS = {
    "entries": f"OLD.seq >= {_HORIZON}",
    "subjects": f"OLD.seq >= {_HORIZON}",
    "cases": f"OLD.seq >= {_HORIZON}",
    "checkpoints": "1",
    "tree_nodes": "1",
    "prunes": "1",
}
TRIGGERS = {
    name: sql
    for table, condition in _TRIGGERS.items()
    for name, sql in (
        (
            f"{table}_no_update",
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}\n"
            "BEGIN SELECT RAISE(ABORT, 'audit ledger is append-only: UPDATE refused'); END",
        ),
        (
            f"{table}_no_delete",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} WHEN {condition}\n"
            "BEGIN SELECT RAISE(ABORT, 'audit ledger is append-only: DELETE refused'); END",
        ),
    )
} | {
    "figures_only_grow": "CREATE TRIGGER figures_only_grow BEFORE UPDATE ON figures WHEN"
    " NEW.tally < OLD.tally OR NEW.year IS NOT OLD.year OR NEW.dimension IS NOT OLD.dimension"
    " OR NEW.category IS NOT OLD.category\n"
    "BEGIN SELECT RAISE(ABORT, 'audit figures only grow: UPDATE refused'); END",
    "figures_no_delete": "CREATE TRIGGER figures_no_delete BEFORE DELETE ON figures\n"
    "BEGIN SELECT RAISE(ABORT, 'audit figures only grow: DELETE refused'); END",
}
"""Each trigger by name and its whole statement; one that differs is replaced on opening.
The counters of `figures` (`services.audit.counts`) may grow, never shrink or go."""


def migrate(db: sqlite3.Connection) -> None:
    """Create what is missing, add later columns, replace triggers of an older release."""
    db.executescript(SCHEMA)
    db.execute("BEGIN IMMEDIATE")
    try:
        for table, column, kind in ADDED_COLUMNS:
            present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        stored = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
        for name, sql in TRIGGERS.items():
            if stored.get(name) != sql:
                db.execute(f"DROP TRIGGER IF EXISTS {name}")
                db.execute(sql)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class SqliteStore:
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        migrate(self._db)
        self._read_lock = threading.Lock()
        self._reader = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
        )
        self._reader.execute("PRAGMA busy_timeout=10000")

    def sql(self, query: str) -> str:
        return query

    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} IN ({','.join('?' * len(values))})", list(values)

    def contains(self, column: str) -> str:
        return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE json_each.value = ?)"

    @contextmanager
    def writing(self) -> Iterator[Cursor]:
        with self._lock:
            cursor = self._db.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[Cursor]:
        with self._read_lock:
            cursor = self._reader.cursor()
            cursor.execute("BEGIN")
            try:
                yield cursor
            finally:
                cursor.execute("COMMIT")

    pruning = writing
    """Deletes below the prune this transaction records pass the triggers' own condition."""

    def may_prune(self) -> bool:
        return True

    def close(self) -> None:
        self._reader.close()
        self._db.close()
