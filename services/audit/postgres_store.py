"""PostgreSQL ledger backend: triggers that refuse UPDATE, DELETE and TRUNCATE, and a writer
role that may only INSERT and SELECT.

The service connects as the writer role; the schema is created (and the role granted) by
`kmt audit init-db` with an owner's URL. Appends from several service instances are
serialised by a transaction-scoped advisory lock, which any role may take.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql as pgsql

from services.audit.store import Cursor, ledger_tables

APPEND_LOCK = 0x4B4D54_4155  # "KMT" "AU": the advisory lock id of the ledger
TABLES = ("entries", "subjects", "checkpoints", "prunes")

SCHEMA = (
    ledger_tables(integer="BIGINT", boolean="BOOLEAN")
    + """
CREATE OR REPLACE FUNCTION kmt_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME IN ('entries', 'subjects') THEN
        IF OLD.seq < (SELECT COALESCE(MAX(min_seq), 0) FROM prunes) THEN
            RETURN OLD;  -- below a recorded prune horizon: archived, may go
        END IF;
    END IF;
    RAISE EXCEPTION 'audit ledger is append-only: % refused on %', TG_OP, TG_TABLE_NAME;
END $$;
"""
    + "".join(
        f"""
CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION kmt_audit_append_only();
CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION kmt_audit_append_only();
"""
        for table in TABLES
    )
)


def init_schema(owner_url: str, writer_role: str | None = None) -> None:
    """Create the ledger tables and triggers; grant `writer_role` INSERT and SELECT only."""
    with psycopg.connect(owner_url, autocommit=True) as connection:
        connection.execute(SCHEMA)
        if writer_role:
            connection.execute(
                pgsql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(
                    pgsql.SQL(", ").join(pgsql.Identifier(t) for t in TABLES),
                    pgsql.Identifier(writer_role),
                )
            )


class PostgresStore:
    name = "postgres"

    def __init__(self, url: str) -> None:
        self._lock = threading.Lock()
        self._db = psycopg.connect(url, autocommit=True)
        exists = self._db.execute("SELECT to_regclass('entries') IS NOT NULL").fetchone()
        if not (exists and exists[0]):
            self._db.execute(SCHEMA)

    def sql(self, query: str) -> str:
        return query.replace("?", "%s")

    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} = ANY(?)", [list(values)]

    def contains(self, column: str) -> str:
        return f"{column}::jsonb @> jsonb_build_array(?::text)"

    @contextmanager
    def writing(self) -> Iterator[Cursor]:
        with self._lock, self._db.transaction(), self._db.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [APPEND_LOCK])
            yield cursor

    @contextmanager
    def reading(self) -> Iterator[Cursor]:
        with self._lock, self._db.transaction(), self._db.cursor() as cursor:
            yield cursor

    pruning = writing

    def close(self) -> None:
        self._db.close()
