"""The key store: a melding's wrapped data keys, outside Kafka, deletable.

Embedded default: a SQLite file in the data directory. A deployment can put the same three
operations in front of a KMS instead. Rows hold only ids, times and wrapped keys; deleting a
melding's rows is crypto-shredding it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

from services.common.settings import Settings

SCHEMA = """
CREATE TABLE IF NOT EXISTS data_keys (
    key_id TEXT PRIMARY KEY,
    melding_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    wrapped TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS data_keys_by_melding ON data_keys (melding_id);
"""


class DataKeyStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute("PRAGMA secure_delete=ON")  # erased keys are overwritten on disk
        self._db.executescript(SCHEMA)

    @classmethod
    def of(cls, settings: Settings) -> DataKeyStore:
        """The deployment's key store (`KMT_KEYSTORE_FILE`, else in the data directory)."""
        return cls(settings.keystore_file or settings.data_dir / "keystore.db")

    def create(self, key_id: str, melding_id: str, wrapped: dict[str, str]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO data_keys VALUES (?, ?, ?, ?)",
                (key_id, melding_id, datetime.now(UTC).isoformat(), json.dumps(wrapped)),
            )

    def create_while_known(self, key_id: str, melding_id: str, wrapped: dict[str, str]) -> bool:
        """Add a further key to a melding that still has one (not erased, not unknown), in
        one statement, so an erasure cannot slip in between; False if the melding has no key
        or `key_id` exists already."""
        created = datetime.now(UTC).isoformat()
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO data_keys SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM data_keys"
                " WHERE melding_id = ?) ON CONFLICT DO NOTHING",
                (key_id, melding_id, created, json.dumps(wrapped), melding_id),
            )
            return cursor.rowcount == 1

    def wrapped_many(self, key_ids: list[str], reader: str) -> dict[str, str]:
        """`reader`'s wrapped keys among `key_ids`, by key id; an erased key is absent."""
        found: dict[str, str] = {}
        for start in range(0, len(key_ids), 500):
            chunk = key_ids[start : start + 500]
            with self._lock:
                rows = self._db.execute(
                    "SELECT key_id, wrapped FROM data_keys WHERE key_id IN"
                    f" ({', '.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
            for key_id, wrapped in rows:
                value = json.loads(wrapped).get(reader)
                if value is not None:
                    found[str(key_id)] = str(value)
        return found

    def wrapped(self, key_id: str, melding_id: str, reader: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT wrapped FROM data_keys WHERE key_id = ? AND melding_id = ?",
                (key_id, melding_id),
            ).fetchone()
        if row is None:
            return None
        value = json.loads(row[0]).get(reader)
        return str(value) if value is not None else None

    def destroy(self, melding_id: str) -> int:
        """Delete every data key of the melding; returns how many there were."""
        with self._lock:
            cursor = self._db.execute("DELETE FROM data_keys WHERE melding_id = ?", (melding_id,))
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # no old page left in the WAL
            return cursor.rowcount

    def keys_created_before(self, moment: datetime) -> list[tuple[str, datetime]]:
        """(melding id, when its first key was made) of meldingen with a key older than
        `moment`."""
        with self._lock:
            rows = self._db.execute(
                "SELECT melding_id, MIN(created_at) FROM data_keys GROUP BY melding_id"
                " HAVING MIN(created_at) < ?",
                (moment.astimezone(UTC).isoformat(),),
            ).fetchall()
        return [(str(r[0]), datetime.fromisoformat(str(r[1]))) for r in rows]

    def knows(self, melding_id: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM data_keys WHERE melding_id = ? LIMIT 1", (melding_id,)
            ).fetchone()
        return row is not None

    def close(self) -> None:
        self._db.close()
