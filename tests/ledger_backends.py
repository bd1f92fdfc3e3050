"""The ledger on both backends for tests: a `Backend` with its own SQL access around the
append-only guards (as an attacker with file or superuser access has), the `backend` fixture
(SQLite and the session's PostgreSQL), and sample decision entries."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.entry import Draft
from services.audit.ledger import Ledger
from services.audit.postgres_store import PostgresStore, init_schema
from services.audit.sqlite_store import SqliteStore
from tests.postgres_server import fresh_database

EVERY = 4  # a checkpoint every 4 entries keeps the trees small and the cases many


@dataclass
class Backend:
    ledger: Ledger
    tamper: Callable[[str], None]
    """Run SQL on the ledger's database with the append-only guards bypassed."""
    attempt: Callable[[str], None]
    """Run SQL on the ledger's database with the guards in place (as the owner)."""


def decision(n: int, melding: str = "00000000-0000-4000-8000-000000000001") -> Draft:
    return Draft(
        type="decision",
        event_id=f"event-{n}",
        actor="kmt/routing",
        event_type="nl.kmt.sharing.decided",
        melding_id=melding,
        recipient="riec",
        allow=n % 2 == 0,
        purpose="aanpak ondermijning",
        legal_basis=("AVG art. 6 lid 1 sub e",),
        fields=("exploitation_forms", "victim.pseudonym"),
        obligations=("pseudonymise:victim", "retention:P5Y"),
        reasons=("riec.ondermijning",),
        policy_revision="rev-1",
        trace_id=f"event-{n}",
    )


def _sqlite(path: Path) -> Backend:
    ledger = Ledger(SqliteStore(path), Ed25519PrivateKey.generate(), checkpoint_every=EVERY)

    def run(sql: str, *, guarded: bool) -> None:
        connection = sqlite3.connect(path, isolation_level=None)
        try:
            if not guarded:
                for (name,) in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type='trigger'"
                ):
                    connection.execute(f"DROP TRIGGER {name}")
            connection.executescript(sql)
        finally:
            connection.close()

    return Backend(ledger, lambda s: run(s, guarded=False), lambda s: run(s, guarded=True))


def _postgres(url: str) -> Backend:
    init_schema(url)
    ledger = Ledger(PostgresStore(url), Ed25519PrivateKey.generate(), checkpoint_every=EVERY)

    def run(sql: str, *, guarded: bool) -> None:
        with psycopg.connect(url, autocommit=True) as connection:
            if not guarded:
                connection.execute("SET session_replication_role = replica")
            connection.execute(sql)  # type: ignore[arg-type]

    return Backend(ledger, lambda s: run(s, guarded=False), lambda s: run(s, guarded=True))


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        made = _sqlite(tmp_path / "audit.sqlite3")
    else:
        made = _postgres(fresh_database(request.getfixturevalue("postgres_url")))
    yield made
    made.ledger.close()


def filled(backend: Backend, n: int) -> Ledger:
    for i in range(n):  # one by one, as the consumer records them
        backend.ledger.append(decision(i))
    return backend.ledger
