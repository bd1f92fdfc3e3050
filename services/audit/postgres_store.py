"""PostgreSQL ledger backend: triggers that refuse UPDATE, DELETE and TRUNCATE, and two roles.

- The owner creates and migrates the tables, triggers and grants (`kmt audit init-db`), and
  is the only role that may prune (`kmt audit archive --owner-url`). Its URL is for a
  one-shot migration step and for archiving, never for a running service.
- The writer is the role in the services' `KMT_AUDIT_DB_URL`: it logs in, is no superuser,
  owns nothing, and may only SELECT and INSERT on entries, subjects and checkpoints, and
  SELECT on prunes; on `figures`, the anonymous counters of the Cijfers
  (`services.audit.counts`), also UPDATE, which a trigger allows only where a tally grows.
  `init_schema` creates it when it is missing (password from its URL), grants exactly that,
  and refuses a writer role that could do more.
- The appender is the policy lifecycle's role (`init_schema(..., appender=True)`): it may
  only SELECT and INSERT on entries and SELECT on prunes, enough to append its steps and
  read them back, nothing of the meldingen's subjects, cases, figures or checkpoints (the
  audit service signs the checkpoints over its entries).

The ledger has no sequences (the ledger numbers its entries itself), so none are granted.
Appends from several service instances are serialised by a transaction-scoped advisory
lock, which any role may take. Reads go over a second connection, each in a read-only
REPEATABLE READ transaction (one snapshot), so they never wait for an append.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql as pgsql

from services.audit.store import ADDED_COLUMNS, Cursor, ledger_tables
from services.common.postgres_roles import WriterRoleRefused, ensure_login_role

APPEND_LOCK = 0x4B4D54_4155  # "KMT" "AU": the advisory lock id of the ledger
MIGRATE_LOCK = 0x4B4D54_4D49  # "KMT" "MI": one schema migration at a time
APPEND_ONLY = ("entries", "subjects", "cases", "checkpoints", "tree_nodes", "prunes")
COUNTERS = "figures"
TABLES = (*APPEND_ONLY, COUNTERS)
WRITER_INSERTS = ("entries", "subjects", "cases", "checkpoints", "tree_nodes", COUNTERS)
"""The writer may add to these; `prunes` it may only read, as only the owner prunes."""
WRITER = {
    **{table: ("SELECT", "INSERT") for table in WRITER_INSERTS},
    "prunes": ("SELECT",),
    COUNTERS: ("SELECT", "INSERT", "UPDATE"),
}
APPENDER = {"entries": ("SELECT", "INSERT"), "prunes": ("SELECT",)}
"""The policy lifecycle's role: append its steps, read them back (and where entries start)."""
WORDS = {"SELECT": "lezen", "INSERT": "toevoegen", "UPDATE": "ophogen"}
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")

SCHEMA = (
    ledger_tables(integer="BIGINT", boolean="BOOLEAN")
    + "".join(
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind};\n"
        for table, column, kind in ADDED_COLUMNS
    )
    + """
CREATE OR REPLACE FUNCTION kmt_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Entries may go only below a prune recorded in this same transaction: an older or a
    -- forged row in prunes opens nothing (and verify checks every prune's signature).
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME IN ('entries', 'subjects', 'cases') THEN
        IF OLD.seq < (SELECT COALESCE(MAX(min_seq), 0) FROM prunes
                      WHERE xmin = pg_current_xact_id()::xid) THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit ledger is append-only: % refused on %', TG_OP, TG_TABLE_NAME;
END $$;
CREATE OR REPLACE FUNCTION kmt_audit_figures_grow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.tally >= OLD.tally AND (NEW.year, NEW.dimension, NEW.category)
                = (OLD.year, OLD.dimension, OLD.category) THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit figures only grow: % refused', TG_OP;
END $$;
CREATE OR REPLACE TRIGGER figures_only_grow BEFORE UPDATE OR DELETE ON figures
    FOR EACH ROW EXECUTE FUNCTION kmt_audit_figures_grow();
CREATE OR REPLACE TRIGGER figures_no_truncate BEFORE TRUNCATE ON figures
    FOR EACH STATEMENT EXECUTE FUNCTION kmt_audit_figures_grow();
"""
    + "".join(
        f"""
CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION kmt_audit_append_only();
CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION kmt_audit_append_only();
"""
        for table in APPEND_ONLY
    )
)

NOT_MIGRATED = (
    "het ledger-schema ontbreekt of is verouderd, en deze rol mag het niet aanmaken: voer "
    "`kmt audit init-db` uit met de URL van de eigenaar (KMT_AUDIT_OWNER_DB_URL)"
)


class SchemaNotReady(RuntimeError):
    """The schema is missing or old and the connecting role (the writer) may not migrate."""


def _tables(names: Sequence[str]) -> pgsql.Composable:
    return pgsql.SQL(", ").join(pgsql.Identifier(t) for t in names)


def init_schema(
    owner_url: str,
    writer_role: str | None = None,
    *,
    writer_password: str | None = None,
    appender: bool = False,
) -> None:
    """As the owner: create or migrate the tables and triggers; then, with `writer_role`,
    create that role if it is missing (LOGIN, no superuser, `writer_password` if given) and
    grant it SELECT and INSERT only (`prunes`: SELECT; `figures`: UPDATE too), or with
    `appender` only what `APPENDER` names. `WriterRoleRefused` when the role is the owner, a
    superuser or otherwise able to do more; nothing is changed then.
    """
    with psycopg.connect(owner_url, autocommit=True) as connection, connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATE_LOCK])
        connection.execute(SCHEMA)
        if writer_role:
            grants = APPENDER if appender else WRITER
            _ensure_writer(connection, writer_role, writer_password, grants)


def _ensure_writer(
    connection: psycopg.Connection[Any],
    role: str,
    password: str | None,
    grants: dict[str, tuple[str, ...]],
) -> None:
    ensure_login_role(connection, role, password)
    name = pgsql.Identifier(role)
    connection.execute(pgsql.SQL("REVOKE ALL ON {} FROM PUBLIC, {}").format(_tables(TABLES), name))
    for table, privileges in grants.items():
        connection.execute(
            pgsql.SQL("GRANT {} ON {} TO {}").format(
                pgsql.SQL(", ").join(pgsql.SQL(p) for p in privileges),
                pgsql.Identifier(table),
                name,
            )
        )
    problems = writer_problems(connection, role, grants)
    if problems:
        raise WriterRoleRefused(f"schrijfrol {role} mag te veel: " + "; ".join(problems))


def writer_problems(
    connection: psycopg.Connection[Any], role: str, grants: dict[str, tuple[str, ...]] = WRITER
) -> list[str]:
    """What `role` could do to the ledger beyond `grants` (the writer's: reading and
    appending), in Dutch."""
    problems: list[str] = []
    row = connection.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role]).fetchone()
    if row is None:
        return [f"rol {role} bestaat niet"]
    if row[0]:
        problems.append("is superuser")
    for table in TABLES:
        owns, more = connection.execute(
            "SELECT pg_has_role(%s, c.relowner, 'MEMBER'),"
            " has_table_privilege(%s, c.oid, %s)"
            " FROM pg_class c WHERE c.oid = to_regclass(%s)",
            [
                role,
                role,
                ", ".join(p for p in PRIVILEGES if p not in grants.get(table, ())),
                table,
            ],
        ).fetchone() or (False, False)
        if owns:
            problems.append(f"is (lid van) de eigenaar van {table}")
        elif more:
            allowed = " en ".join(WORDS[p] for p in grants.get(table, ())) or "niets"
            problems.append(f"mag meer dan {allowed} op {table}")
    version = connection.execute("SHOW server_version_num").fetchone()
    if version and int(version[0]) >= 150000:
        sets = connection.execute(
            "SELECT has_parameter_privilege(%s, 'session_replication_role', 'SET')", [role]
        ).fetchone()
        if sets and sets[0]:
            problems.append("mag session_replication_role zetten (triggers uitschakelen)")
    return problems


class PostgresStore:
    name = "postgres"

    def __init__(self, url: str) -> None:
        self._lock = threading.Lock()
        self._db = psycopg.connect(url, autocommit=True)
        if not self._migrated():
            try:
                with self._db.transaction():
                    self._db.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATE_LOCK])
                    self._db.execute(SCHEMA)
            except psycopg.errors.InsufficientPrivilege as exc:
                self._db.close()
                raise SchemaNotReady(NOT_MIGRATED) from exc
        self._read_lock = threading.Lock()
        self._reader = psycopg.connect(url, autocommit=True)
        self._reader.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self._reader.read_only = True

    def _migrated(self) -> bool:
        """Whether the tables exist with every later column; from the catalogue, which also
        shows the tables a role (the appender) may not read."""
        wanted = [
            ("entries", "seq"),
            ("tree_nodes", "id"),
            ("figures", "tally"),
            *((t, c) for t, c, _ in ADDED_COLUMNS),
        ]
        row = self._db.execute(
            "SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " WHERE c.relnamespace = current_schema()::regnamespace AND NOT a.attisdropped"
            " AND (c.relname || '.' || a.attname) = ANY(%s)",
            [[f"{t}.{c}" for t, c in wanted]],
        ).fetchone()
        return bool(row and row[0] == len(wanted))

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
        with self._read_lock, self._reader.transaction(), self._reader.cursor() as cursor:
            yield cursor

    pruning = writing

    def may_prune(self) -> bool:
        with self.reading() as cursor:
            cursor.execute(
                "SELECT has_table_privilege('entries', 'DELETE')"
                " AND has_table_privilege('subjects', 'DELETE')"
                " AND has_table_privilege('prunes', 'INSERT')"
            )
            row = cursor.fetchone()
        return bool(row and row[0])

    def close(self) -> None:
        self._reader.close()
        self._db.close()
