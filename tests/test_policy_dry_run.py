"""`kmt policy dry-run` (issue 11 §2): routing keeps, for every melding it decided, the policy
input it used (facts only, sealed under a data key of the melding), and a candidate policy is
put to all of them and compared with what routing decided.

The worked scenarios go through a running deployment (intake's real API, Kafka, OPA, routing,
audit) on the scenarios' date; two candidates are dry-run over them: one that no longer gives
the RIEC the suspects, one that lets the municipality's veiligheidsmedewerker see the
narrative. The changes must be named per recipient, direction and melding id, the ones that
share more first and marked; an erased melding drops out; nothing personal is stored."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from services.common.facts import MeldingReceived
from services.common.models import RECIPIENTS, Decision
from services.common.settings import Settings
from services.devstack.replay import replay
from services.keyring.datakeys import DataKeyStore
from services.policy.candidate import contract_facts
from services.policy.dry_run import Report, changes
from services.policy.engine import POLICIES
from services.policy.versions import VersionStore
from services.routing.history import PolicyInputs, Stored
from services.state.database import Database
from tests.stack import SCENARIOS, Stack, eventually
from tests.test_erasure import files_holding, kmt
from tests.test_state_postgres import migrated


@pytest.fixture(scope="module")
def decided(scenario_stack: Stack) -> dict[str, dict[str, dict[str, Any]]]:
    """The worked scenarios sent through the pipeline: per melding id, the decision per
    recipient as the audit trail recorded it, once routing stored all of their inputs."""
    outcomes = replay(sorted(SCENARIOS.glob("*.json")), scenario_stack.settings)
    assert [(o.scenario, o.problems) for o in outcomes if o.problems] == []
    ids = [str(o.melding_id) for o in outcomes]
    eventually(lambda: stored_count(scenario_stack.settings) == len(ids), timeout=60)
    return {
        melding_id: {
            entry["recipient"]: entry
            for entry in scenario_stack.audit_entries(melding_id)
            if entry["type"] == "decision"
        }
        for melding_id in ids
    }


def stored_count(settings: Settings) -> int:
    inputs = PolicyInputs.of(settings)
    try:
        return inputs.count()
    finally:
        inputs.close()


def candidate(tmp: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of policies/ with its policy data changed."""
    target = tmp / "kandidaat"
    shutil.copytree(POLICIES, target)
    config = target / "kmt" / "config" / "data.json"
    data = json.loads(config.read_text())
    change(data)
    config.write_text(json.dumps(data, indent=2))
    return target


def dry_run_json(scenario_stack: Stack, policy: Path | str) -> dict[str, Any]:
    done = kmt(scenario_stack.settings, "policy", "dry-run", str(policy), "--json")
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def without_riec_suspects(data: dict[str, Any]) -> None:
    data["recipients"]["riec"]["fields"].remove("suspects")


def municipality_sees_narrative(data: dict[str, Any]) -> None:
    data["recipients"]["gemeente_veiligheid"]["fields"].append("signals.narrative")


def allowed(decided: dict[str, dict[str, dict[str, Any]]], recipient: str, field: str) -> set[str]:
    return {
        melding_id
        for melding_id, per_recipient in decided.items()
        if per_recipient[recipient]["allow"] and field in per_recipient[recipient]["fields"]
    }


@pytest.mark.integration
def test_removing_the_riecs_right_to_suspects_names_exactly_those_meldingen(
    scenario_stack: Stack, decided: dict[str, dict[str, dict[str, Any]]], tmp_path: Path
) -> None:
    expected = allowed(decided, "riec", "suspects")
    assert expected  # the RIEC received suspects in the scenarios (02, 09)
    report = dry_run_json(scenario_stack, candidate(tmp_path, without_riec_suspects))

    assert report["meldingen"] == len(decided) and report["erased_passed_by"] == 0
    riec = report["recipients"]["riec"]
    # Scenario 07: the suspects came from the police (WPG) and were withheld, so the RIEC got
    # `police_involved` in their place; without suspects in its fields nothing is withheld
    # any more, and that flag goes too. A consequence the dry run must name, not hide.
    flagged = allowed(decided, "riec", "police_involved") - expected
    assert flagged
    groups = {(c["direction"], tuple(c["detail"])): c for c in riec["changes"]}
    assert set(groups) == {
        ("fields_removed", ("suspects",)),
        ("fields_removed", ("police_involved",)),
    }
    assert set(groups["fields_removed", ("suspects",)]["melding_ids"]) == expected
    assert set(groups["fields_removed", ("police_involved",)]["melding_ids"]) == flagged
    assert {(c["rule"], c["attention"]) for c in riec["changes"]} == {("riec.ondermijning", False)}
    assert riec["changed"] == len(expected | flagged)
    assert riec["by_direction"]["fields_removed"] == len(expected | flagged)
    assert all(c["legal_basis"] for c in riec["changes"])
    for other in ("gemeente_veiligheid", "veilig_thuis"):
        assert report["recipients"][other]["changed"] == 0
        assert report["recipients"][other]["changes"] == []


@pytest.mark.integration
def test_letting_the_municipality_see_the_narrative_is_marked_for_attention_first(
    scenario_stack: Stack, decided: dict[str, dict[str, dict[str, Any]]], tmp_path: Path
) -> None:
    expected = {m for m, d in decided.items() if d["gemeente_veiligheid"]["allow"]}
    assert expected  # scenario 03: a safety risk in Hengelo
    policy = candidate(tmp_path, municipality_sees_narrative)
    report = dry_run_json(scenario_stack, policy)

    gemeente = report["recipients"]["gemeente_veiligheid"]
    assert [(c["direction"], c["detail"], c["attention"]) for c in gemeente["changes"]] == [
        ("fields_added", ["signals.narrative"], True)
    ]
    assert set(gemeente["changes"][0]["melding_ids"]) == expected
    assert gemeente["changes"][0]["rule"].startswith("gemeente.")
    assert report["recipients"]["riec"]["changed"] == 0
    assert report["recipients"]["veilig_thuis"]["changed"] == 0

    text = kmt(scenario_stack.settings, "policy", "dry-run", str(policy))
    assert text.returncode == 0, text.stderr
    assert "gemeente_veiligheid: 1 van 10 besluiten veranderen" in text.stdout
    assert "LET OP  velden erbij: signals.narrative" in text.stdout
    summary = (
        "LET OP, meer delen bij: gemeente_veiligheid (weigeren → toestaan: 0; velden erbij: 1)"
    )
    assert text.stdout.index(summary) < text.stdout.index("riec:")  # before any recipient
    assert all(melding_id in text.stdout for melding_id in expected)


@pytest.mark.integration
def test_a_stored_policy_version_is_dry_run_by_its_id(
    scenario_stack: Stack, decided: dict[str, dict[str, dict[str, Any]]]
) -> None:
    """The deciding policy itself, built into a signed version: nothing changes."""
    version = VersionStore.of(scenario_stack.settings).build(
        POLICIES, "operator-1", "zelfde beleid"
    )
    report = dry_run_json(scenario_stack, version.id)
    assert report["policy_revision"] == version.id and report["meldingen"] == len(decided)
    assert [r["changed"] for r in report["recipients"].values()] == [0, 0, 0]

    unknown = kmt(scenario_stack.settings, "policy", "dry-run", "sha256:0000000000000000")
    assert unknown.returncode == 2 and "bestaat niet" in unknown.stderr
    missing = kmt(scenario_stack.settings, "policy", "dry-run", "/bestaat/niet")
    assert missing.returncode == 2 and "geen beleidsmap of beleidsversie" in missing.stderr


@pytest.mark.integration
def test_a_candidate_that_breaks_the_decision_contract_is_refused(
    scenario_stack: Stack, decided: dict[str, dict[str, dict[str, Any]]], tmp_path: Path
) -> None:
    policy = candidate(tmp_path, lambda data: None)
    rego = policy / "kmt" / "riec" / "riec.rego"
    rego.write_text(rego.read_text().replace('"purpose": conf.purpose,', '"purpose": "",'))
    refused = kmt(scenario_stack.settings, "policy", "dry-run", str(policy))
    assert refused.returncode == 2
    assert "kandidaat geweigerd" in refused.stderr
    assert "toestemming zonder doel of grondslag" in refused.stderr
    assert refused.stdout == ""


@pytest.mark.integration
def test_no_personal_data_is_stored_neither_on_disk_nor_in_the_sealed_inputs(
    scenario_stack: Stack, decided: dict[str, dict[str, dict[str, Any]]]
) -> None:
    needles = []
    for path in sorted(SCENARIOS.glob("*.json")):
        melding = json.loads(path.read_text())["melding"]
        victim = melding["victim"]
        needles += [v for v in (victim.get("name"), victim.get("bsn"), victim.get("phone")) if v]
        needles.append(melding["signals"]["narrative"][:40])
    store = scenario_stack.settings.data_dir / "routing.db"
    assert store.exists()
    assert files_holding([scenario_stack.settings.data_dir], needles) == []
    inputs = PolicyInputs.of(scenario_stack.settings)
    try:
        opened = json.dumps([s.input for batch, _ in inputs.batches(100) for s in batch])
    finally:
        inputs.close()
    assert [n for n in needles if n in opened] == []
    assert '"narrative"' not in opened and '"name"' not in opened


@pytest.mark.integration
def test_a_record_moved_to_another_melding_is_refused(
    scenario_stack: Stack, decided: dict[str, dict[str, dict[str, Any]]], tmp_path: Path
) -> None:
    """An insider with write access to the state database swaps two sealed inputs: the dry
    run does not count either under the wrong melding, it refuses."""
    copy = tmp_path / "data"
    shutil.copytree(scenario_stack.settings.data_dir, copy)
    with sqlite3.connect(copy / "routing.db") as db:
        (a, sealed_a), (b, sealed_b) = db.execute(
            "SELECT melding_id, sealed FROM policy_inputs LIMIT 2"
        ).fetchall()
        db.execute("UPDATE policy_inputs SET sealed = ? WHERE melding_id = ?", (sealed_b, a))
        db.execute("UPDATE policy_inputs SET sealed = ? WHERE melding_id = ?", (sealed_a, b))
    settings = scenario_stack.settings.model_copy(
        update={"data_dir": copy, "keystore_file": scenario_stack.settings.data_dir / "keystore.db"}
    )
    refused = kmt(settings, "policy", "dry-run", str(POLICIES))
    assert refused.returncode == 1
    assert "onleesbaar of van een andere melding" in refused.stderr


@pytest.mark.integration
def test_an_erased_melding_drops_out_of_every_later_dry_run(
    scenario_stack: Stack, decided: dict[str, dict[str, dict[str, Any]]], tmp_path: Path
) -> None:
    """Runs last: it erases one of the scenarios' meldingen."""
    policy = candidate(tmp_path, without_riec_suspects)
    gone = sorted(allowed(decided, "riec", "suspects"))[0]
    erased = kmt(scenario_stack.settings, "erase", gone, "--reason", "avg-art-17", "--by", "fg-1")
    assert erased.returncode == 0, erased.stderr

    report = dry_run_json(scenario_stack, policy)
    assert report["meldingen"] == len(decided) - 1
    assert report["erased_passed_by"] == 1
    assert gone not in json.dumps(report)
    riec = {i for c in report["recipients"]["riec"]["changes"] for i in c["melding_ids"]}
    assert gone not in riec and riec
    assert report["recipients"]["riec"]["decisions"] == len(decided) - 1


# The comparison itself, as pure logic -----------------------------------------------------


def decision(allow: bool, fields: list[str], obligations: list[str], rule: str) -> dict[str, Any]:
    basis = ["AVG art. 6 lid 1 sub e"] if allow else []
    return {"allow": allow, "fields": fields, "obligations": obligations,
            "legal_basis": basis, "rules": [rule]}  # fmt: skip


def test_every_direction_is_named_and_what_shares_more_comes_first() -> None:
    assert changes(decision(False, [], [], "r.nee"), decision(True, ["a"], [], "r.ja")) == [
        ("deny_to_allow", ("a",))
    ]
    assert changes(decision(True, ["a"], [], "r.ja"), decision(False, [], [], "r.nee")) == [
        ("allow_to_deny", ("a",))
    ]
    both = changes(
        decision(True, ["a", "b"], ["retention:P1Y"], "r.ja"),
        decision(True, ["b", "c"], ["retention:P2Y"], "r.ja"),
    )
    assert both == [
        ("fields_added", ("c",)),
        ("fields_removed", ("a",)),
        ("obligations_changed", ("+retention:P2Y", "-retention:P1Y")),
    ]
    assert changes(decision(False, [], [], "r.nee"), decision(False, [], [], "r.anders")) == []

    report = Report("kandidaat", "sha256:0")
    unchanged = decision(False, [], [], "x.nee")
    for melding_id, before, after in [
        ("m1", decision(True, ["a"], [], "riec.ja"), decision(False, [], [], "riec.nee")),
        ("m2", decision(False, [], [], "riec.nee"), decision(True, ["a"], [], "riec.ja")),
        ("m3", decision(True, ["a"], [], "riec.ja"), decision(True, ["a", "b"], [], "riec.ja")),
    ]:
        recorded = {"riec": before, "gemeente_veiligheid": unchanged, "veilig_thuis": unchanged}
        answers = {"riec": after, "gemeente_veiligheid": unchanged, "veilig_thuis": unchanged}
        report.add(Stored(melding_id, {}, "sha256:1", recorded), answers)
    riec = report.as_json()["recipients"]["riec"]
    assert [(c["direction"], c["attention"], c["melding_ids"]) for c in riec["changes"]] == [
        ("deny_to_allow", True, ["m2"]),
        ("fields_added", True, ["m3"]),
        ("allow_to_deny", False, ["m1"]),
    ]
    assert riec["changes"][2]["rule"] == "riec.nee"
    assert riec["changes"][2]["legal_basis"] == ["AVG art. 6 lid 1 sub e"]  # what no longer holds
    assert riec["changed"] == 3


# Routing's history in PostgreSQL (KMT_STATE_DB_URL), and erasure of a stored input ---------


def recorded(revision: str) -> list[Decision]:
    reason = [{"rule": "test.nee", "text": "niet delen"}]
    return [
        Decision(recipient=r, allow=False, reasons=reason, policy_revision=revision)
        for r in RECIPIENTS
    ]


@pytest.mark.integration
def test_the_history_lives_in_postgresql_and_erasure_takes_a_stored_input_with_it(
    postgres_url: str, tmp_path: Path
) -> None:
    _, writer = migrated(postgres_url, "routing")
    settings = Settings(data_dir=tmp_path / "data", keys_dir=tmp_path / "keys", state_db_url=writer)
    keys = DataKeyStore.of(settings)
    inputs = PolicyInputs.of(settings)
    facts = contract_facts()[:3]
    try:
        for item in facts[:2]:  # sealed by intake: each has a data key
            keys.create(f"{item.melding_id}/intake", str(item.melding_id), {"sharing": "-"})
        kept = [
            inputs.keep(
                MeldingReceived(
                    melding_id=item.melding_id, received_at=item.received_at, facts=item, sealed="-"
                ),
                recorded("sha256:0123456789abcdef"),
                item.received_at,
            )
            for item in facts
        ]
        assert kept == [True, True, False]  # no data key, no record: nothing to erase later
        assert inputs.count() == 2
        erased = str(facts[0].melding_id)
        assert keys.destroy(erased) == 2  # intake's key and the one of the stored input
        assert not inputs.keep(  # a redelivery after the erasure stores nothing again
            MeldingReceived(
                melding_id=facts[0].melding_id,
                received_at=facts[0].received_at,
                facts=facts[0],
                sealed="-",
            ),
            recorded("sha256:0123456789abcdef"),
            facts[0].received_at,
        )
        ((found, passed_by),) = list(inputs.batches(10))
        assert [s.melding_id for s in found] == [str(facts[1].melding_id)] and passed_by == 1
        assert found[0].input["melding"]["melding_id"] == str(facts[1].melding_id)
        assert found[0].decided["riec"]["rules"] == ["test.nee"]
        writer_db = Database.on_postgres(writer)
        for statement in ("DELETE FROM policy_inputs", "UPDATE policy_inputs SET sealed = ''"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                writer_db.execute(statement)
        writer_db.close()
    finally:
        inputs.close()
        keys.close()
