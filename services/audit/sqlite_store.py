"""SQLite ledger backend: one file, WAL, triggers that refuse UPDATE and DELETE."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from services.audit.store import Cursor, ledger_tables

SCHEMA = ledger_tables(integer="INTEGER", boolean="INTEGER")

_HORIZON = "(SELECT COALESCE(MAX(min_seq), 0) FROM prunes)"
_TRIGGERS = {
    "entries": f"OLD.seq >= {_HORIZON}",
    "subjects": f"OLD.seq >= {_HORIZON}",
    "checkpoints": "1",
    "prunes": "1",
}
TRIGGERS = "".join(
    f"""
CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table}
BEGIN SELECT RAISE(ABORT, 'audit ledger is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} WHEN {condition}
BEGIN SELECT RAISE(ABORT, 'audit ledger is append-only: DELETE refused'); END;
"""
    for table, condition in _TRIGGERS.items()
)


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
        self._db.executescript(SCHEMA + TRIGGERS)

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
        with self._lock:
            cursor = self._db.cursor()
            cursor.execute("BEGIN")
            try:
                yield cursor
            finally:
                cursor.execute("COMMIT")

    pruning = writing
    """Deletes below the horizon pass the triggers' own condition; nothing else is needed."""

    def may_prune(self) -> bool:
        return True

    def close(self) -> None:
        self._db.close()
