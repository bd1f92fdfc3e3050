"""Pruning only through a signed prune record, on SQLite and PostgreSQL.

A row in `prunes` says where the live entries start. Whoever could add one could hide a
deletion below it, so every record is signed with the checkpoint key and `verify` (live and
offline) names a record that is unsigned or signed by another key. The database itself lets
a deletion pass only right after the prune that allows it, never later.
On PostgreSQL the attacks run as the owner: the writer role cannot delete at all.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from services.audit.backends import SQLITE_FILE, open_ledger
from services.audit.cli import cli
from services.audit.ledger import Ledger, now
from services.audit.merkle import Frontier, leaf_hash
from services.audit.postgres_store import PostgresStore, SchemaNotReady, init_schema
from services.audit.prunes import PruneRecord
from services.audit.sqlite_store import SqliteStore
from services.common.settings import Settings
from tests.ledger_backends import EVERY, Backend, decision, filled
from tests.ledger_backends import backend as backend  # the fixture, on both backends
from tests.test_audit_roles import migrated

runner = CliRunner()
GUARDED = (sqlite3.DatabaseError, psycopg.Error)


def record_below(ledger: Ledger, min_seq: int) -> PruneRecord:
    """A prune record at `min_seq` with the true chain and tree state: only unsigned."""
    frontier = Frontier()
    for seq in range(min_seq):
        frontier.append(leaf_hash(bytes.fromhex(ledger.entry(seq).entry_hash)))  # type: ignore[union-attr]
    previous = ledger.entry(min_seq - 1)
    assert previous is not None
    return PruneRecord(
        min_seq, previous.entry_hash, json.dumps(frontier.to_json()), "0" * 64, now()
    )


def insert(record: PruneRecord) -> str:
    values = ", ".join(
        "NULL" if v is None else str(v) if isinstance(v, int) else f"'{v}'" for v in record.as_row()
    )
    return (
        "INSERT INTO prunes (min_seq, prev_hash, frontier, archive_sha256, pruned_at, signature)"
        f" VALUES ({values})"
    )


def delete_below(min_seq: int) -> str:
    return f"DELETE FROM subjects WHERE seq < {min_seq}; DELETE FROM entries WHERE seq < {min_seq}"


def forged(ledger: Ledger, how: str) -> PruneRecord:
    record = record_below(ledger, 2 * EVERY)
    if how == "unsigned":
        return record
    if how == "other key":
        return record.signed(Ed25519PrivateKey.generate())
    if how == "altered after signing":
        return replace(record.signed(ledger.signer), archive_sha256="f" * 64)
    raise AssertionError(how)


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("unsigned", "is niet ondertekend"),
        ("other key", "handtekening klopt niet"),
        ("altered after signing", "handtekening klopt niet"),
    ],
)
def test_deletion_behind_a_forged_prune_record_is_named(
    backend: Backend, how: str, message: str
) -> None:
    ledger = filled(backend, 3 * EVERY + 1)
    record = forged(ledger, how)
    # in one transaction, with the database's guards in place: they cannot tell it from a
    # genuine prune, so the deletion goes through ...
    backend.attempt(f"{insert(record)}; {delete_below(record.min_seq)}")
    assert ledger.entry(2 * EVERY - 1) is None and ledger.entry(2 * EVERY) is not None
    # ... and verify names the record, and nothing else is wrong
    (problem,) = ledger.verify().problems
    assert problem.seq == 2 * EVERY
    assert problem.message.startswith(
        f"opschoning tot seq {2 * EVERY} (prunes-record van {record.pruned_at})"
    )
    assert message in problem.message


def test_a_prune_row_opens_nothing_for_a_later_transaction(backend: Backend) -> None:
    ledger = filled(backend, 3 * EVERY + 1)
    record = record_below(ledger, 2 * EVERY).signed(ledger.signer)  # even a signed one
    backend.attempt(insert(record))
    with pytest.raises(GUARDED, match="append-only"):
        backend.attempt(delete_below(2 * EVERY))
    assert ledger.entry(0) is not None
    assert ledger.verify().ok  # the entries below are still there, and the record is good


def test_genuine_prune_record_is_signed_and_verifies(backend: Backend) -> None:
    ledger = filled(backend, 3 * EVERY + 1)
    ledger.prune(2 * EVERY, "a" * 64)
    (record,) = ledger.prune_records()
    assert record.signature and record.min_seq == 2 * EVERY
    result = ledger.verify()
    assert result.ok, result.problems
    assert result.prunes == 1


def test_an_older_database_gets_the_signature_column_and_the_narrow_triggers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.sqlite3"
    SqliteStore(path).close()
    old = sqlite3.connect(path, isolation_level=None)
    old.executescript(
        "DROP TRIGGER entries_no_delete; ALTER TABLE prunes DROP COLUMN signature;"
        " CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries"
        " WHEN OLD.seq >= (SELECT COALESCE(MAX(min_seq), 0) FROM prunes)"
        " BEGIN SELECT RAISE(ABORT, 'append-only'); END;"
        " INSERT INTO prunes VALUES (0, '', '[]', '', 'vroeger');"
    )
    SqliteStore(path).close()
    columns = [row[1] for row in old.execute("PRAGMA table_info(prunes)")]
    (trigger,) = old.execute("SELECT sql FROM sqlite_master WHERE name = 'entries_no_delete'")
    old.close()
    assert columns[-1] == "signature" and "last_insert_rowid()" in trigger[0]
    ledger = Ledger(SqliteStore(path), Ed25519PrivateKey.generate())
    try:  # a record from before signatures existed cannot be trusted, and is named
        (problem,) = ledger.verify().problems
        assert (
            problem.message
            == "opschoning tot seq 0 (prunes-record van vroeger) is niet ondertekend"
        )
    finally:
        ledger.close()


def test_an_older_postgres_schema_is_migrated_by_the_owner_only(postgres_url: str) -> None:
    roles = migrated(postgres_url)
    with psycopg.connect(roles.owner_url, autocommit=True) as owner:
        owner.execute("ALTER TABLE prunes DROP COLUMN signature")
    with pytest.raises(SchemaNotReady, match="eigenaar"):
        PostgresStore(roles.writer_url)  # the writer may not migrate
    init_schema(roles.owner_url, roles.writer)
    PostgresStore(roles.writer_url).close()


# -- through `kmt audit`, as operators run it --------------------------------------------


@dataclass
class Deployment:
    settings: Settings
    owner: list[str]
    """Extra arguments for `kmt audit archive`: the owner's URL on PostgreSQL."""
    sql: Callable[[str], None]
    """Run SQL as the owner, the database's guards in place, in one transaction."""


@pytest.fixture(params=["sqlite", "postgres"])
def deployment(
    request: pytest.FixtureRequest, tmp_path: Path, configure: Callable[..., Settings]
) -> Iterator[Deployment]:
    paths = {"data_dir": tmp_path / "data", "keys_dir": tmp_path / "keys"}
    if request.param == "sqlite":
        settings = configure(**paths)
        owner: list[str] = []

        def run(sql: str) -> None:
            connection = sqlite3.connect(settings.data_dir / SQLITE_FILE, isolation_level=None)
            try:
                connection.executescript(f"BEGIN; {sql}; COMMIT;")
            finally:
                connection.close()
    else:
        roles = migrated(request.getfixturevalue("postgres_url"))
        settings = configure(audit_db_url=roles.writer_url, **paths)
        owner = ["--owner-url", roles.owner_url]

        def run(sql: str) -> None:
            with psycopg.connect(roles.owner_url, autocommit=True) as connection:
                connection.execute(sql)

    ledger = open_ledger(settings.model_copy(update={"audit_checkpoint_entries": EVERY}))
    for n in range(10):  # checkpoints at 4 and 8
        ledger.append(decision(n))
    ledger.close()
    yield Deployment(settings, owner, run)


def test_kmt_audit_verify_names_an_unsigned_prune(deployment: Deployment) -> None:
    ledger = open_ledger(deployment.settings)
    record = record_below(ledger, 2 * EVERY)
    ledger.close()
    deployment.sql(f"{insert(record)}; {delete_below(2 * EVERY)}")
    result = runner.invoke(cli, ["verify"])
    assert result.exit_code == 1
    assert "NIET IN ORDE" in result.output
    assert f"opschoning tot seq {2 * EVERY} " in result.output
    assert "is niet ondertekend" in result.output


def test_archive_prunes_with_a_signed_record_and_everything_verifies(
    deployment: Deployment, tmp_path: Path
) -> None:
    key = runner.invoke(cli, ["public-key"]).output.strip()
    archived = runner.invoke(
        cli, ["archive", str(tmp_path / "archief"), "--older-than-days", "0", *deployment.owner]
    )
    assert archived.exit_code == 0, archived.output
    assert "live tabellen beginnen bij seq 8" in archived.output
    (archive,) = (tmp_path / "archief").iterdir()
    assert runner.invoke(cli, ["verify-export", str(archive), "--key", key]).exit_code == 0
    verified = runner.invoke(cli, ["verify"])
    assert verified.exit_code == 0, verified.output
    assert "1 opschoningen" in verified.output
    # an export after the prune carries the signed record and verifies offline ...
    export = tmp_path / "export.jsonl"
    assert runner.invoke(cli, ["export", str(export)]).exit_code == 0
    lines = export.read_text(encoding="utf-8").splitlines()
    (prune_line,) = [line for line in lines if '"kind":"prune"' in line]
    offline = runner.invoke(cli, ["verify-export", str(export), "--key", key])
    assert offline.exit_code == 0, offline.output
    assert "1 opschoningen" in offline.output
    # ... and a record altered in the export, or its signature dropped, is named
    item = json.loads(prune_line)
    named = "opschoning tot seq 8 (prunes-record van "
    for damaged, messages in (
        ([*item["prune"][:3], "f" * 64, *item["prune"][4:]], [named, "handtekening klopt niet"]),
        ([*item["prune"][:5], None], [named, "is niet ondertekend"]),
        (item["prune"][:5], ["opschoonrecord in de export is onleesbaar"]),
    ):
        damaged_line = json.dumps({**item, "prune": damaged})
        export.write_text("\n".join(damaged_line if x == prune_line else x for x in lines))
        result = runner.invoke(cli, ["verify-export", str(export), "--key", key])
        assert result.exit_code == 1
        assert all(m in result.output for m in messages), result.output
