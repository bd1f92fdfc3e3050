"""The policy lifecycle appends its steps to the ledger with a role of its own and without
audit's checkpoint key (issue 11, the operator API's compose service): it can append and
read back its steps, it cannot sign checkpoints, and its role can change nothing that is
recorded nor read what the meldingen left in the ledger. A dry run runs with routing's keys
only and records its step with that role (compose's `policy-dry-run`).

Runs against the real PostgreSQL of `postgres_url`, migrated as `kmt audit init-db` makes it
(the audit writer, then `--appender` for the lifecycle's role).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from services.audit.backends import open_appender
from services.audit.cli import cli as audit_cli
from services.audit.ledger import Ledger
from services.audit.postgres_store import APPENDER, PostgresStore, writer_problems
from services.cli import app
from services.common.settings import Settings
from services.common.staff import add_member, issue_token
from services.keyring.vault import input_key
from services.policy.bundle_signing import generate_policy_keys
from services.policy.lifecycle import Lifecycle
from services.policy.operator_api import create_app
from services.policy.versions import VersionStore
from tests.postgres_server import fresh_database, writer
from tests.test_policy_lifecycle import files_of
from tests.test_policy_versions import candidate

runner = CliRunner()


@dataclass(frozen=True)
class Deployment:
    owner_url: str
    audit_url: str
    policy_url: str
    policy_role: str
    settings: Settings


@pytest.fixture
def deployment(postgres_url: str, tmp_path: Path, configure: Callable[..., Settings]) -> Deployment:
    """The ledger with audit's writer and the lifecycle's appender; the operator API's
    settings: its own keys (`keys/policy`, the public half beside it) and the appender URL."""
    owner = fresh_database(postgres_url)
    *_, audit_url = writer(owner, "audit")
    policy_role, _, policy_url = writer(owner, "policy")
    made = runner.invoke(audit_cli, ["init-db", owner, "--writer-url", audit_url])
    assert made.exit_code == 0, made.output
    made = runner.invoke(audit_cli, ["init-db", owner, "--writer-url", policy_url, "--appender"])
    assert made.exit_code == 0, made.output
    assert f"rol {policy_role} mag alleen entries lezen en toevoegen" in made.output
    keys = tmp_path / "keys"
    generate_policy_keys(keys)
    settings = configure(
        data_dir=tmp_path / "data",
        keys_dir=keys,
        staff_file=tmp_path / "staff.json",
        audit_db_url=policy_url,
    )
    for member in ("alice", "bob"):
        add_member(member, "operator")
    return Deployment(owner, audit_url, policy_url, policy_role, settings)


def test_the_operator_api_appends_its_steps_with_only_its_own_secrets(
    deployment: Deployment, tmp_path: Path
) -> None:
    settings = deployment.settings
    alice, bob = ({"Authorization": f"Bearer {issue_token(m)}"} for m in ("alice", "bob"))
    body = {"message": "test", "files": files_of(candidate(tmp_path / "c", keep_tests=False))}
    with TestClient(create_app(settings)) as client:
        made = client.post("/v1/policy/proposals", json=body, headers=alice)
        assert made.status_code == 201, made.text
        revision = made.json()["revision"]
        # four eyes read the steps back: no dry run of bob's on record, refused and recorded
        early = client.post(f"/v1/policy/versions/{revision}/approval", headers=bob)
        assert early.status_code == 409, early.text
        # a dry run needs routing's history, which the operator API does not hold
        elsewhere = client.post(f"/v1/policy/versions/{revision}/dry-run", headers=bob)
        assert elsewhere.status_code == 503, elsewhere.text
        assert "docker compose run --rm policy-dry-run" in elsewhere.json()["detail"]
        history = client.get("/v1/policy/history", headers=bob).json()
    assert [s["step"] for s in history["steps"]] == ["policy_proposed", "policy_refused"]
    # no checkpoint key was needed, and none was made
    assert sorted(p.name for p in settings.keys_dir.iterdir()) == ["policy", "public"]

    appender = open_appender(settings)
    try:
        with pytest.raises(PermissionError, match="alleen de auditservice"):
            appender.checkpoint()
        with pytest.raises(PermissionError, match="alleen de eigenaar"):
            appender.prune(1, "0" * 64)
        steps = Lifecycle(appender, VersionStore.of(settings)).steps()
        assert [s.actor for s in steps] == ["staff:alice", "staff:bob"]
    finally:
        appender.close()
    # the audit service signs the checkpoint over the lifecycle's entries, and they verify
    audit = Ledger(PostgresStore(deployment.audit_url), Ed25519PrivateKey.generate())
    try:
        signed = audit.checkpoint()
        assert signed is not None and signed.size == 2
        result = audit.verify()
        assert result.ok and result.entries == 2, result.problems
    finally:
        audit.close()


def test_the_lifecycles_role_can_only_read_and_append_entries(deployment: Deployment) -> None:
    """As an attacker holding the operator API's database password would try."""
    forged_checkpoint = (
        "INSERT INTO checkpoints (size, root_hash, frontier, note, created_at)"
        " VALUES (1, 'x', '[]', 'x', 'x')"
    )
    for statement in (
        "UPDATE entries SET actor = 'staff:mallory'",
        "DELETE FROM entries",
        "TRUNCATE entries",
        forged_checkpoint,
        "INSERT INTO tree_nodes (id, hash) VALUES (1, 'x')",
        "SELECT * FROM subjects",
        "SELECT * FROM cases",
        "UPDATE figures SET tally = tally + 1",
        "INSERT INTO prunes (min_seq, prev_hash, frontier, archive_sha256, pruned_at)"
        " VALUES (4, 'x', '[]', 'x', 'x')",
        "ALTER TABLE entries DISABLE TRIGGER ALL",
        "SET session_replication_role = replica",
    ):
        with (
            psycopg.connect(deployment.policy_url, autocommit=True) as attacker,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            attacker.execute(statement)
    with psycopg.connect(deployment.owner_url) as owner:
        assert writer_problems(owner, deployment.policy_role, APPENDER) == []
        # the writer's grants would be more than the lifecycle holds: none of them is given
        granted = owner.execute(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants"
            " WHERE grantee = %s ORDER BY 1, 2",
            [deployment.policy_role],
        ).fetchall()
    assert granted == [("entries", "INSERT"), ("entries", "SELECT"), ("prunes", "SELECT")]


def test_the_dry_run_runs_as_routing_and_records_with_the_lifecycles_role(
    deployment: Deployment, tmp_path: Path, configure: Callable[..., Settings]
) -> None:
    """`policy-dry-run` in compose: routing's keys only (its history key), the lifecycle's
    appending role; the recorded dry run is what lets another operator approve."""
    ledger = open_appender(deployment.settings)
    try:
        directory = candidate(tmp_path / "c", keep_tests=False)
        proposed = Lifecycle.of(deployment.settings, ledger).propose(directory, "t", "alice")
    finally:
        ledger.close()
    routing_keys = tmp_path / "routing-keys"
    input_key(routing_keys)  # routing's own, as `kmt keys generate` makes it
    as_routing = configure(keys_dir=routing_keys)
    ran = runner.invoke(app, ["policy", "dry-run", proposed.version.id, "--json", "--by", "bob"])
    assert ran.exit_code == 0, ran.output
    assert "proefrun vastgelegd" in ran.output
    assert sorted(p.name for p in routing_keys.iterdir()) == ["routing"]  # nothing else made
    ledger = open_appender(as_routing)
    try:
        approved = Lifecycle(ledger, VersionStore.of(as_routing)).approve(
            proposed.version.id, "bob"
        )
        steps = Lifecycle(ledger, VersionStore.of(as_routing)).steps()
    finally:
        ledger.close()
    assert approved.version.id == proposed.version.id
    assert [(s.type, s.actor) for s in steps] == [
        ("policy_proposed", "staff:alice"),
        ("policy_dry_run", "staff:bob"),
        ("policy_approved", "staff:bob"),
    ]
