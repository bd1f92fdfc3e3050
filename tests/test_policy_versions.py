"""Policy versions (issue 11 §1): immutable, signed bundles in a store, whose id is the
revision decisions name; a candidate that does not compile, fails its tests or answers
against the decision contract is refused with a Dutch reason and leaves the store as it was.
What OPA does with them: tests/test_policy_signing.py."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.common.settings import Settings
from services.devstack.up import first_policies
from services.policy.bundle_signing import (
    BundleSigningFailed,
    generate_policy_keys,
    signing_key_path,
    verification_key_path,
)
from services.policy.candidate import CandidateRefused, contract_facts
from services.policy.engine import POLICIES, find_opa_binary, policy_revision
from services.policy.versions import VersionConflict, VersionCorrupt, VersionError, VersionStore

SCENARIOS = Path(__file__).parent / "scenarios"
CONFIG = "kmt/config/data.json"
SHARING = "kmt/sharing/sharing.rego"
DECISIONS = "decisions := {asked: decision_for(asked) | some asked in input.recipients}"


def opa() -> str:
    binary = find_opa_binary()
    assert binary is not None, "opa ontbreekt: make provision"
    return binary


def candidate(tmp_path: Path, *, keep_tests: bool = True) -> Path:
    """A copy of policies/ an operator edits; without its tests, so that only the build's own
    checks stand between a broken answer and OPA."""
    directory = tmp_path / "kandidaat"
    shutil.copytree(POLICIES, directory)
    if not keep_tests:
        for test in directory.rglob("*_test.rego"):
            test.unlink()
    return directory


def edit_config(directory: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = directory / CONFIG
    config = json.loads(path.read_text(encoding="utf-8"))
    change(config)
    path.write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")


def override_decisions(directory: Path, patch: str) -> None:
    """Make every decision `object.union(decision, patch)`."""
    path = directory / SHARING
    text = path.read_text(encoding="utf-8")
    assert DECISIONS in text
    replaced = (
        f"decisions := {{asked: object.union(decision_for(asked), {patch}) | "
        "some asked in input.recipients}"
    )
    path.write_text(text.replace(DECISIONS, replaced), encoding="utf-8")


def new_store(root: Path, name: str = "versions") -> VersionStore:
    """A store with its own policy key, as `kmt keys generate` makes it."""
    store = VersionStore(root / name, root / f"{name}-keys")
    generate_policy_keys(store.keys_dir)
    return store


def store_files(store: VersionStore) -> list[str]:
    return sorted(p.name for p in store.root.rglob("*")) if store.root.exists() else []


# --- Building: checks, refusals, immutability -----------------------------------------


def test_a_version_is_a_signed_bundle_with_a_manifest(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    version = store.build(POLICIES, "operator-a", "RIEC-termijn verduidelijkt")
    assert version.id == policy_revision(POLICIES)
    assert version.content_sha256.startswith(version.id.removeprefix("sha256:"))
    assert version.bundle_sha256 == hashlib.sha256(version.bundle.read_bytes()).hexdigest()
    assert (version.author, version.message) == ("operator-a", "RIEC-termijn verduidelijkt")
    with tarfile.open(version.bundle) as bundle:
        names = {m.name.lstrip("/") for m in bundle.getmembers()}
        manifest = json.load(bundle.extractfile("/.manifest"))  # type: ignore[arg-type]
        data = json.load(bundle.extractfile("/data.json"))  # type: ignore[arg-type]
    assert ".signatures.json" in names
    assert not any(name.endswith("_test.rego") for name in names)
    assert manifest["revision"] == version.id
    assert data["kmt_meta"] == {"policy_revision": version.id}
    assert store.load(version.id) == version
    assert [v.id for v in store.list()] == [version.id]
    # The signing key stays with the operator; only its public half is published.
    assert signing_key_path(store.keys_dir).stat().st_mode & 0o077 == 0
    assert b"PRIVATE" not in verification_key_path(store.keys_dir).read_bytes()


def test_without_the_policy_key_nothing_is_built(tmp_path: Path) -> None:
    store = VersionStore(tmp_path / "versions", tmp_path / "geen-sleutels")
    with pytest.raises(BundleSigningFailed, match="beleidssleutel ontbreekt"):
        store.build(POLICIES, "operator-a", "zonder sleutel")
    assert store_files(store) == []


def test_a_version_never_changes(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    first = store.build(POLICIES, "operator-a", "eerste")
    before = first.bundle.read_bytes()
    again = store.build(POLICIES, "operator-b", "nog een keer")
    assert again == first  # the same policies: the stored version, author and all
    assert first.bundle.read_bytes() == before

    # Another content under a taken id (a forged or colliding manifest) is refused.
    manifest = store.root / f"{first.id.removeprefix('sha256:')}.json"
    stored = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**stored, "content_sha256": "0" * 64}))
    with pytest.raises(VersionConflict, match="bestaat al met andere inhoud"):
        store.build(POLICIES, "operator-b", "overschrijven")
    manifest.write_text(json.dumps(stored))

    # A bundle changed behind the store's back is not handed out.
    first.bundle.write_bytes(before + b"\0")
    with pytest.raises(VersionCorrupt, match="klopt niet"):
        store.load(first.id)
    with pytest.raises(VersionError):
        store.set_active(first.id)


@pytest.mark.parametrize("version_id", ["../../etc/passwd", "sha256:ABC", "", "sha256:" + "0" * 16])
def test_an_unknown_or_malformed_id_is_refused(tmp_path: Path, version_id: str) -> None:
    store = new_store(tmp_path)
    with pytest.raises(VersionError):
        store.load(version_id)
    with pytest.raises(VersionError):
        store.set_active(version_id)
    assert store.active() is None


def _not_compiling(directory: Path) -> None:
    (directory / "kmt/riec/riec.rego").write_text("package kmt.riec\n\noutcome := {\n")


def _failing_a_test(directory: Path) -> None:
    edit_config(directory, lambda c: c["recipients"]["riec"]["fields"].append("victim.bsn"))


def _allow_as_text(directory: Path) -> None:
    override_decisions(directory, '{"allow": "true"}')


def _allow_without_basis(directory: Path) -> None:
    override_decisions(directory, '{"legal_basis": []}')


def _allow_without_purpose(directory: Path) -> None:
    override_decisions(directory, '{"purpose": " "}')


def _field_outside_schema(directory: Path) -> None:
    edit_config(directory, lambda c: c["recipients"]["riec"]["fields"].append("victim.schoenmaat"))


def _retention_in_data(directory: Path) -> None:
    edit_config(directory, lambda c: c["recipients"]["riec"].update(retention="twee jaar"))


def _retention_in_rules(directory: Path) -> None:
    override_decisions(directory, '{"obligations": ["retention:P2J"]}')


def _no_decisions(directory: Path) -> None:
    path = directory / SHARING
    path.write_text(path.read_text(encoding="utf-8").replace(DECISIONS, ""), encoding="utf-8")


REFUSALS: list[tuple[Callable[[Path], None], bool, str]] = [
    (_not_compiling, True, "compileert niet"),
    (_failing_a_test, True, "tests van het beleid falen.*riec"),
    (_allow_as_text, False, r"besluitcontract.*ongeldig besluit \(allow\)"),
    (_allow_without_basis, False, "toestemming zonder doel of grondslag"),
    (_allow_without_purpose, False, "toestemming zonder doel of grondslag"),
    (_field_outside_schema, False, r"veld buiten het meldingschema \(victim.schoenmaat\)"),
    (_retention_in_data, False, "retention is geen ISO 8601-duur"),
    (_retention_in_rules, False, r"onleesbare verplichting \(retention:P2J\)"),
    (_no_decisions, False, "geen besluiten"),
]


@pytest.mark.parametrize(("breaks", "keep_tests", "reason"), REFUSALS,
                         ids=[b.__name__.strip("_") for b, _, _ in REFUSALS])  # fmt: skip
def test_a_broken_candidate_is_refused_in_dutch_and_changes_nothing(
    tmp_path: Path, breaks: Callable[[Path], None], keep_tests: bool, reason: str
) -> None:
    store = new_store(tmp_path)
    good = store.build(POLICIES, "operator-a", "de huidige")
    store.set_active(good.id)
    before = {p: p.read_bytes() for p in store.root.rglob("*")}
    directory = candidate(tmp_path, keep_tests=keep_tests)
    breaks(directory)
    with pytest.raises((CandidateRefused, VersionError), match=reason):
        store.build(directory, "operator-b", "kapot")
    assert {p: p.read_bytes() for p in store.root.rglob("*")} == before
    assert store.active() == good.id


def test_the_build_needs_an_author_and_a_message(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    with pytest.raises(VersionError, match="auteur ontbreekt"):
        store.build(POLICIES, "  ", "waarom")
    with pytest.raises(VersionError, match="toelichting ontbreekt"):
        store.build(POLICIES, "operator-a", "")
    with pytest.raises(VersionError, match="bestaat niet"):
        store.build(tmp_path / "nergens", "operator-a", "waarom")
    assert store_files(store) == []


def test_kmt_policy_build(tmp_path: Path, configure: Callable[..., Settings]) -> None:
    settings = configure(data_dir=tmp_path / "data", keys_dir=tmp_path / "keys")
    generate_policy_keys(settings.keys_dir)
    store = VersionStore.of(settings)
    runner = CliRunner()
    broken = candidate(tmp_path)
    _failing_a_test(broken)
    refused = runner.invoke(app, ["policy", "build", str(broken), "-m", "x", "--author", "b"])
    assert refused.exit_code == 2
    assert "geweigerd: de tests van het beleid falen" in refused.stderr
    assert store_files(store) == []

    args = ["policy", "build", str(POLICIES), "-m", "eerste versie", "--author", "operator-a"]
    built = runner.invoke(app, [*args, "--initial"])
    assert built.exit_code == 0, built.stderr
    version_id = policy_revision(POLICIES)
    assert f"gebouwd: {version_id}" in built.stdout and f"actief: {version_id}" in built.stdout
    assert store.active() == version_id
    again = runner.invoke(app, [*args, "--initial"])
    assert again.exit_code == 0 and "bestaat al" in again.stdout and "actief" not in again.stdout


def test_contract_facts_are_the_worked_scenarios_facts() -> None:
    """services/ may not read tests/: the facts every candidate is asked about are a copy of
    the scenarios' facts, kept in step here."""
    from services.common.facts import policy_facts
    from services.common.models import Melding

    stored = contract_facts()
    scenarios = sorted(SCENARIOS.glob("*.json"))
    assert len(stored) == len(scenarios)
    for facts, scenario in zip(stored, scenarios, strict=True):
        data = json.loads(scenario.read_text(encoding="utf-8"))["melding"]
        melding = Melding.model_validate({"melding_id": str(facts.melding_id), **data})
        assert policy_facts(melding) == facts, scenario.name


def test_kmt_up_seeds_policies_only_on_the_first_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A restart neither re-builds nor re-activates: the active version stays, also when
    policies/ differs from it (changing it is the four-eyes lifecycle's)."""
    store = new_store(tmp_path)
    assert first_policies(store) == POLICIES
    version = store.build(POLICIES, "kmt up", "eerste start")
    store.set_active(version.id)
    assert first_policies(store) is None
    assert capsys.readouterr().out == ""
    other = candidate(tmp_path, keep_tests=False)
    edit_config(other, lambda data: data["recipients"]["riec"]["fields"].remove("suspects"))
    store.set_active(store.build(other, "operator-a", "zonder verdachten").id)
    assert first_policies(store) is None
    assert "policies/ wijkt ervan af" in capsys.readouterr().out
