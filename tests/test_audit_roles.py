"""PostgreSQL roles: the owner migrates and prunes; the services' writer role may only read
and append, whatever it tries; the ledger it wrote still verifies.

Runs against the real PostgreSQL of `postgres_url`. Roles are cluster-wide, so every test
makes its own writer role.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from services.audit.backends import open_ledger
from services.audit.cli import cli
from services.audit.ledger import Ledger
from services.audit.postgres_store import (
    TABLES,
    PostgresStore,
    SchemaNotReady,
    WriterRoleRefused,
    init_schema,
    writer_problems,
)
from services.common.settings import Settings
from tests.ledger_backends import EVERY, decision
from tests.postgres_server import fresh_database, writer

runner = CliRunner()


@dataclass(frozen=True)
class Roles:
    owner_url: str
    writer_url: str
    writer: str


def new_roles(postgres_url: str) -> Roles:
    """A fresh database owned by the superuser of `postgres_url`, and a writer role name
    (not created yet) with its URL."""
    owner_url = fresh_database(postgres_url)
    role, _, url = writer(owner_url, "writer")
    return Roles(owner_url, url, role)


def migrated(postgres_url: str) -> Roles:
    """`new_roles`, with the schema made and the writer created, as `kmt audit init-db` does."""
    roles = new_roles(postgres_url)
    result = runner.invoke(cli, ["init-db", roles.owner_url, "--writer-url", roles.writer_url])
    assert result.exit_code == 0, result.output
    assert f"schrijfrol {roles.writer} mag alleen lezen en toevoegen" in result.output
    return roles


@pytest.fixture
def roles(postgres_url: str) -> Roles:
    return migrated(postgres_url)


def test_init_db_creates_a_login_writer_with_a_hashed_password(roles: Roles) -> None:
    with psycopg.connect(roles.owner_url) as owner:
        row = owner.execute(
            "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolpassword"
            " FROM pg_authid WHERE rolname = %s",
            [roles.writer],
        ).fetchone()
    assert row is not None
    login, superuser, createrole, createdb, password = row
    assert login and not (superuser or createrole or createdb)
    assert password.startswith("SCRAM-SHA-256$")  # never the password itself
    # running it again (the migration step at every start) changes nothing and still passes
    again = runner.invoke(cli, ["init-db", roles.owner_url, "--writer-url", roles.writer_url])
    assert again.exit_code == 0, again.output


def test_writer_is_no_superuser_and_owns_no_ledger_table(roles: Roles) -> None:
    with psycopg.connect(roles.writer_url) as writer:
        superuser = writer.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert superuser.fetchone() == (False,)
        owners = writer.execute(
            "SELECT c.relname, pg_get_userbyid(c.relowner), pg_has_role(c.relowner, 'MEMBER')"
            " FROM pg_class c WHERE c.relname = ANY(%s) AND c.relkind = 'r'",
            [list(TABLES)],
        ).fetchall()
        assert {name for name, _, _ in owners} == set(TABLES)
        # the ledger numbers its entries itself: no sequence to grant or to misuse
        assert writer.execute("SELECT count(*) FROM pg_class WHERE relkind = 'S'").fetchone() == (
            0,
        )
        assert all(owner == "postgres" and not member for _, owner, member in owners)
        privileges = {
            (table, privilege): writer.execute(
                "SELECT has_table_privilege(%s, %s)", [table, privilege]
            ).fetchone()
            == (True,)
            for table in TABLES
            for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "TRIGGER")
        }
    allowed = {(t, p) for (t, p), granted in privileges.items() if granted}
    assert allowed == {(t, "SELECT") for t in TABLES} | {
        (t, "INSERT")
        for t in ("entries", "subjects", "cases", "checkpoints", "tree_nodes", "figures")
    } | {("figures", "UPDATE")}  # the Cijfers' counters, which a trigger lets only grow
    with psycopg.connect(roles.owner_url) as owner:
        assert writer_problems(owner, roles.writer) == []


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE entries SET purpose = 'anders' WHERE seq = 1",
        "DELETE FROM entries WHERE seq = 1",
        "DELETE FROM subjects",
        "DELETE FROM checkpoints",
        "DELETE FROM tree_nodes",
        "TRUNCATE entries",
        "TRUNCATE prunes",
        "ALTER TABLE entries DISABLE TRIGGER entries_append_only",
        "ALTER TABLE entries DISABLE TRIGGER ALL",
        "DROP TRIGGER entries_append_only ON entries",
        "DROP TABLE entries",
        "INSERT INTO prunes (min_seq, prev_hash, frontier, archive_sha256, pruned_at)"
        " VALUES (4, 'x', '[]', 'x', 'x')",
        "SET session_replication_role = replica",
    ],
)
def test_writer_appends_through_the_ledger_and_can_change_nothing(
    roles: Roles, statement: str
) -> None:
    ledger = Ledger(
        PostgresStore(roles.writer_url), Ed25519PrivateKey.generate(), checkpoint_every=EVERY
    )
    try:
        for n in range(2 * EVERY + 1):  # one by one, as the consumer records them
            ledger.append(decision(n))
        assert [c.size for c in ledger.checkpoints()] == [EVERY, 2 * EVERY]
        with psycopg.connect(roles.writer_url, autocommit=True) as writer:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                writer.execute(statement)
            # and whatever it tried first, deleting stays refused
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                writer.execute("DELETE FROM entries WHERE seq = 2")
        result = ledger.verify()
        assert result.ok, result.problems
        assert result.entries == 2 * EVERY + 1
        with pytest.raises(PermissionError, match="eigenaar"):
            ledger.prune(EVERY, "0" * 64)
    finally:
        ledger.close()


def test_init_db_refuses_a_writer_that_could_do_more(postgres_url: str) -> None:
    roles = new_roles(postgres_url)
    with psycopg.connect(roles.owner_url, autocommit=True) as owner:
        owner.execute(f"CREATE ROLE {roles.writer} LOGIN SUPERUSER")
        with pytest.raises(WriterRoleRefused, match="superuser"):
            init_schema(roles.owner_url, roles.writer)
        owner.execute(f"ALTER ROLE {roles.writer} NOSUPERUSER")
        owner.execute(f"GRANT pg_write_all_data TO {roles.writer}")
        with pytest.raises(WriterRoleRefused, match="meer dan lezen en toevoegen"):
            init_schema(roles.owner_url, roles.writer)
        # nothing was made or granted meanwhile
        assert owner.execute("SELECT to_regclass('entries')").fetchone() == (None,)
    owner_as_writer = runner.invoke(
        cli, ["init-db", roles.owner_url, "--writer-url", roles.owner_url]
    )
    assert owner_as_writer.exit_code == 1
    assert "de eigenaar zelf" in owner_as_writer.output
    assert "er is niets veranderd" in owner_as_writer.output


def test_writer_cannot_create_the_schema_and_says_so(postgres_url: str) -> None:
    roles = new_roles(postgres_url)
    with psycopg.connect(roles.owner_url, autocommit=True) as owner:
        owner.execute(f"CREATE ROLE {roles.writer} LOGIN")
    with pytest.raises(SchemaNotReady, match="kmt audit init-db"):
        PostgresStore(roles.writer_url)


def test_archive_needs_the_owner_and_says_so_in_dutch(
    roles: Roles, tmp_path: Path, configure: Callable[..., Settings]
) -> None:
    home = tmp_path
    settings = configure(
        audit_db_url=roles.writer_url, data_dir=home / "data", keys_dir=home / "keys"
    )
    ledger = open_ledger(settings.model_copy(update={"audit_checkpoint_entries": EVERY}))
    for n in range(10):
        ledger.append(decision(n))
    ledger.close()
    archive = home / "archief"
    refused = runner.invoke(cli, ["archive", str(archive), "--older-than-days", "0"])
    assert refused.exit_code == 2
    assert "opschonen mag alleen de eigenaar" in refused.output
    assert "--owner-url" in refused.output and "KMT_AUDIT_OWNER_DB_URL" in refused.output
    assert not archive.exists()
    done = runner.invoke(
        cli,
        ["archive", str(archive), "--older-than-days", "0"],
        env={"KMT_AUDIT_OWNER_DB_URL": roles.owner_url},
    )
    assert done.exit_code == 0, done.output
    assert "live tabellen beginnen bij seq 8" in done.output
    verified = runner.invoke(cli, ["verify"])  # as the writer, like the service
    assert verified.exit_code == 0, verified.output
    assert "1 opschoningen" in verified.output
