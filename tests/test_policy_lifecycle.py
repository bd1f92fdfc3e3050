"""Propose, dry-run, approve, activate, roll back (issue 11 §3): four eyes on every policy
change, every step and every refusal in the real audit ledger, and activation reaching the
real OPA without a restart. A refusal changes nothing but the trail: no approval, no active
version, no stored bundle."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from services.audit.backends import open_ledger
from services.audit.entry import Draft
from services.bus.kafka import ensure_topics
from services.cli import app
from services.common.settings import Settings
from services.common.staff import add_member, issue_token
from services.devstack.opa import start_opa
from services.devstack.paths import free_port
from services.devstack.process import stop
from services.keyring import generate_all
from services.policy.engine import POLICIES, policy_revision
from services.policy.lifecycle import Lifecycle, Refused
from services.policy.operator_api import create_app
from services.policy.versions import VersionStore
from tests.ledger_backends import Backend, backend  # noqa: F401  (fixture)
from tests.stack import eventually
from tests.test_policy_dry_run import municipality_sees_narrative, without_riec_suspects
from tests.test_policy_signing import revisions, smuggle
from tests.test_policy_versions import candidate, edit_config, override_decisions

runner = CliRunner()


@pytest.fixture
def site(
    configure: Callable[..., Settings], settings_factory: Callable[..., Settings], tmp_path: Path
) -> Iterator[Settings]:
    """A fresh data dir, key dir and staff registry with operators alice and bob and a
    privacy officer carol, on the test session's broker (topics of its own), where each
    activation is announced."""
    bus = settings_factory()
    settings = configure(
        data_dir=tmp_path / "data",
        keys_dir=bus.keys_dir,
        staff_file=tmp_path / "staff.json",
        kafka_bootstrap=bus.kafka_bootstrap,
        kafka_ca_file=bus.kafka_ca_file,
        topic_prefix=bus.topic_prefix,
    )
    for member, role in (("alice", "operator"), ("bob", "operator"), ("carol", "privacy_officer")):
        add_member(member, role)  # type: ignore[arg-type]
    generate_all(settings.keys_dir)
    asyncio.run(ensure_topics(settings))
    yield settings


def kmt(*args: str) -> Result:
    return runner.invoke(app, list(args))


def proposed(tmp_path: Path, name: str, change: Callable[[dict[str, Any]], None]) -> Path:
    directory = candidate(tmp_path / name, keep_tests=False)
    edit_config(directory, change)
    return directory


def revision_of(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return next(w for w in result.output.split() if w.startswith("sha256:"))


def propose(directory: Path, by: str) -> str:
    return revision_of(kmt("policy", "propose", str(directory), "-m", "test", "--by", by))


def dry_run(revision: str, by: str) -> Result:
    return kmt("policy", "dry-run", revision, "--json", "--by", by)


def trail(settings: Settings) -> list[tuple[str, str, str | None, str | None, tuple[str, ...]]]:
    ledger = open_ledger(settings)
    try:
        steps = Lifecycle(ledger, VersionStore.of(settings)).steps()
    finally:
        ledger.close()
    return [(s.type, s.actor, s.policy_revision, s.ciphertext_sha256, s.reasons) for s in steps]


def refused_with(result: Result, settings: Settings, words: str) -> None:
    """Exit nonzero with the Dutch reason, and the refusal is the trail's last entry."""
    assert result.exit_code == 2, result.output
    assert words in result.output
    last = trail(settings)[-1]
    assert last[0] == "policy_refused" and words in last[4][0], last


def audit_verifies(export: Path | None = None) -> None:
    """`kmt audit verify` passes; with `export`, an export of the trail verifies offline too
    (its `verwerking` view names every lifecycle step)."""
    done = kmt("audit", "verify")
    assert done.exit_code == 0, done.output
    if export is not None:
        assert kmt("audit", "export", str(export)).exit_code == 0
        key = kmt("audit", "public-key").stdout.strip()
        checked = kmt("audit", "verify-export", str(export), "--key", key)
        assert checked.exit_code == 0, checked.output


# --- The refusals -------------------------------------------------------------------------


def test_the_proposer_cannot_approve_even_with_a_dry_run(site: Settings, tmp_path: Path) -> None:
    revision = propose(proposed(tmp_path, "a", without_riec_suspects), "alice")
    assert dry_run(revision, "alice").exit_code == 0
    refused_with(kmt("policy", "approve", revision, "--by", "alice"), site, "vier ogen")
    assert [s[0] for s in trail(site)] == [
        "policy_proposed", "policy_dry_run", "policy_refused"
    ]  # fmt: skip
    refused_with(kmt("policy", "activate", revision, "--by", "bob"), site, "niet goedgekeurd")
    assert VersionStore.of(site).active() is None
    audit_verifies()


def test_approval_needs_the_approvers_dry_run_of_that_exact_revision(
    site: Settings, tmp_path: Path
) -> None:
    first = propose(proposed(tmp_path, "a", without_riec_suspects), "alice")
    other = propose(proposed(tmp_path, "b", municipality_sees_narrative), "alice")
    assert dry_run(other, "bob").exit_code == 0  # a dry run of another version
    assert dry_run(first, "carol").exit_code == 2  # and none by a non-operator
    refused_with(kmt("policy", "approve", first, "--by", "bob"), site, "geen proefrun")
    assert not [s for s in trail(site) if s[0] == "policy_approved"]
    # The dry-run entry names the exact revision, its bundle and the report's hash.
    run = next(s for s in trail(site) if s[0] == "policy_dry_run")
    assert run[1:3] == ("staff:bob", other)
    assert run[3] == VersionStore.of(site).load(other).bundle_sha256
    assert run[4][0].startswith("rapport-sha256:") and len(run[4][0]) == 15 + 64
    assert dry_run(first, "bob").exit_code == 0
    assert kmt("policy", "approve", first, "--by", "bob").exit_code == 0
    audit_verifies()


def test_a_non_operator_and_an_unknown_id_are_refused_and_recorded(
    site: Settings, tmp_path: Path
) -> None:
    directory = proposed(tmp_path, "a", without_riec_suspects)
    for who in ("carol", "mallory"):
        refused_with(
            kmt("policy", "propose", str(directory), "-m", "x", "--by", who), site, "operator"
        )
    assert VersionStore.of(site).list() == []
    assert [s[1] for s in trail(site)] == ["staff:carol", "staff:mallory"]


def test_a_contract_breaking_candidate_is_refused_at_proposal(
    site: Settings, tmp_path: Path
) -> None:
    broken = candidate(tmp_path / "kapot", keep_tests=False)
    override_decisions(broken, '{"allow": "ja"}')
    refused_with(
        kmt("policy", "propose", str(broken), "-m", "x", "--by", "alice"), site, "geweigerd"
    )
    assert VersionStore.of(site).list() == []
    assert [s[0] for s in trail(site)] == ["policy_refused"]


def test_a_bundle_swapped_in_the_store_after_proposal_is_refused(
    site: Settings, tmp_path: Path
) -> None:
    """Someone who can write the store replaces the proposed bundle by another (unsigned or
    otherwise), with a manifest that matches it: the hash recorded at proposal does not."""
    store = VersionStore.of(site)
    revision = propose(proposed(tmp_path, "a", without_riec_suspects), "alice")
    good = store.load(revision)
    assert dry_run(revision, "bob").exit_code == 0
    assert kmt("policy", "approve", revision, "--by", "bob").exit_code == 0
    other = propose(proposed(tmp_path, "b", municipality_sees_narrative), "alice")
    smuggle(store, store.load(other).bundle.read_bytes(), revision)
    (store.root / "active").unlink()
    refused_with(kmt("policy", "activate", revision, "--by", "bob"), site, "niet die bij")
    assert store.active() is None
    # A bundle edited without its manifest: the store itself no longer trusts it.
    good.bundle.write_bytes(b"niet ondertekend")
    refused_with(kmt("policy", "activate", revision, "--by", "bob"), site, "klopt niet")
    assert store.active() is None
    audit_verifies()


def test_rollback_without_an_earlier_activation_is_refused(site: Settings) -> None:
    refused_with(kmt("policy", "rollback", "--by", "alice"), site, "geen eerder")


# --- The whole way, against the real OPA --------------------------------------------------


def answering(url: str, revision: str) -> bool:
    return asyncio.run(revisions(url)) == {revision}


def test_propose_approve_activate_reaches_opa_and_rollback_returns(
    site: Settings, tmp_path: Path
) -> None:
    store = VersionStore.of(site)
    port = free_port()
    process = start_opa(tmp_path / "opa", port, store=store)  # the first install
    url = f"http://127.0.0.1:{port}"
    try:
        assert answering(url, policy_revision(POLICIES))
        current = propose(POLICIES, "alice")
        assert current == policy_revision(POLICIES)
        assert dry_run(current, "bob").exit_code == 0
        assert kmt("policy", "approve", current, "--by", "bob").exit_code == 0
        assert kmt("policy", "activate", current, "--by", "alice").exit_code == 0

        new = propose(proposed(tmp_path, "nieuw", without_riec_suspects), "bob")
        report = dry_run(new, "alice")
        assert report.exit_code == 0
        changes = json.loads(report.stdout[: report.stdout.rindex("}") + 1])
        assert changes["policy_revision"] == new
        assert kmt("policy", "approve", new, "--by", "alice").exit_code == 0
        assert kmt("policy", "activate", new, "--by", "alice").exit_code == 0
        assert store.active() == new
        eventually(lambda: answering(url, new), timeout=20)

        assert kmt("policy", "rollback", "--by", "bob").exit_code == 0
        assert store.active() == current
        eventually(lambda: answering(url, current), timeout=20)
    finally:
        stop(process)

    steps = trail(site)
    assert [(s[0], s[1], s[2]) for s in steps] == [
        ("policy_proposed", "staff:alice", current),
        ("policy_dry_run", "staff:bob", current),
        ("policy_approved", "staff:bob", current),
        ("policy_activated", "staff:alice", current),
        ("policy_proposed", "staff:bob", new),
        ("policy_dry_run", "staff:alice", new),
        ("policy_approved", "staff:alice", new),
        ("policy_activated", "staff:alice", new),
        ("policy_rolled_back", "staff:bob", current),
    ]
    assert all(s[3] == store.load(s[2] or "").bundle_sha256 for s in steps)
    history = kmt("policy", "history")
    assert history.exit_code == 0, history.output
    assert f"actief volgens de audittrail: {current}" in history.output
    assert "teruggedraaid naar" in history.output
    # A second rollback goes nowhere: before `current` nothing was activated on the record.
    refused_with(kmt("policy", "rollback", "--by", "bob"), site, "geen eerder")
    assert store.active() == current
    audit_verifies(tmp_path / "trail.jsonl")


# --- The same over the operator API -------------------------------------------------------


@pytest.fixture
def api(site: Settings) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    tokens = {m: {"Authorization": f"Bearer {issue_token(m)}"} for m in ("alice", "bob", "carol")}
    with TestClient(create_app(site)) as client:
        yield client, tokens


def files_of(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): p.read_text(encoding="utf-8")
        for p in sorted(directory.rglob("*"))
        if p.suffix in (".rego", ".json")
    }


def test_the_operator_api_keeps_four_eyes_with_the_token_as_actor(
    site: Settings, tmp_path: Path, api: tuple[TestClient, dict[str, dict[str, str]]]
) -> None:
    client, token = api
    store = VersionStore.of(site)
    body = {"message": "RIEC zonder verdachten", "files": files_of(
        proposed(tmp_path, "a", without_riec_suspects))}  # fmt: skip
    anonymous = client.post("/v1/policy/proposals", json=body)
    assert anonymous.status_code == 401, anonymous.text
    assert client.post("/v1/policy/proposals", json=body, headers=token["carol"]).status_code == 403
    evil = {**body, "files": {**body["files"], "../buiten.rego": "package x"}}
    assert client.post("/v1/policy/proposals", json=evil, headers=token["alice"]).status_code == 422
    assert trail(site) == [] and store.list() == []

    made = client.post("/v1/policy/proposals", json=body, headers=token["alice"])
    assert made.status_code == 201, made.text
    revision = made.json()["revision"]
    at = f"/v1/policy/versions/{revision}"
    assert client.post(f"{at}/activation", headers=token["bob"]).status_code == 409
    report = client.post(f"{at}/dry-run", headers=token["alice"])
    assert report.status_code == 200, report.text
    assert report.json()["report"]["policy_revision"] == revision
    refused = client.post(f"{at}/approval", headers=token["alice"])
    assert refused.status_code == 409 and "vier ogen" in refused.json()["detail"]
    assert client.post(f"{at}/dry-run", headers=token["bob"]).status_code == 200
    assert client.post(f"{at}/approval", headers=token["bob"]).status_code == 200
    assert client.post(f"{at}/activation", headers=token["bob"]).status_code == 200
    assert store.active() == revision
    history = client.get("/v1/policy/history", headers=token["bob"]).json()
    assert history["active"] == revision
    assert [(s["step"], s["actor"]) for s in history["steps"]] == [
        ("policy_proposed", "staff:alice"),
        ("policy_refused", "staff:bob"),
        ("policy_dry_run", "staff:alice"),
        ("policy_refused", "staff:alice"),
        ("policy_dry_run", "staff:bob"),
        ("policy_approved", "staff:bob"),
        ("policy_activated", "staff:bob"),
    ]
    audit_verifies()


def test_free_text_in_the_arguments_never_reaches_the_trail(site: Settings) -> None:
    """An id or version argument is recorded only when it is an id: a name typed by mistake
    (or on purpose) stays out of the ledger."""
    name = "Jan Jansen 1970"
    for args in (
        ("approve", name, "--by", "bob"),
        ("activate", "sha256:0000000000000000", "--by", name),
        ("rollback", "--by", name),
    ):
        assert kmt("policy", *args).exit_code == 2
    steps = trail(site)
    assert [s[0] for s in steps] == ["policy_refused"] * 3
    assert name not in json.dumps(steps)


def test_the_lifecycle_reads_its_state_from_either_ledger_store(
    site: Settings,
    tmp_path: Path,
    backend: Backend,  # noqa: F811
) -> None:
    """The same steps on SQLite and on PostgreSQL: the lifecycle finds its entries by type
    among others, and the four-eyes rules hold on both."""
    ledger = backend.ledger
    ledger.append(Draft(type="audit_access", event_id="ander", actor="staff:carol"))
    steps = Lifecycle(ledger, VersionStore.of(site), site.staff_file)
    revision = steps.propose(proposed(tmp_path, "a", without_riec_suspects), "x", "alice")
    with pytest.raises(Refused, match="vier ogen"):
        steps.approve(revision.version.id, "alice")
    steps.record_dry_run(revision.version.id, "0" * 64, "bob")
    steps.approve(revision.version.id, "bob")
    steps.activate(revision.version.id, "alice")
    assert steps.active() == revision.version.id == VersionStore.of(site).active()
    assert [s.type for s in steps.steps()] == [
        "policy_proposed", "policy_refused", "policy_dry_run", "policy_approved",
        "policy_activated",
    ]  # fmt: skip
    assert ledger.verify().ok
