"""A dry run evaluates a candidate once per distinct input (issue 11 §2, speed), and gives
exactly the report that evaluating every melding gives: checked here on a history of 600
meldingen over 40 fact sets, for a candidate that cannot tell meldingen apart, for one that
names a per-melding field, and for one that reaches the melding id without naming it (the
second evaluation of each group catches it). Real `opa`, no stack."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.policy_dry_run import candidate as without_riec_suspects
from bench.policy_dry_run import fill
from services.common.settings import Settings
from services.policy.dry_run import Report, _each, dry_run
from services.policy.engine import POLICIES, find_opa_binary, write_bundle
from services.policy.per_melding import facts_key, reads_per_melding_fields
from services.routing.history import PolicyInputs

OPA = find_opa_binary()
pytestmark = pytest.mark.skipif(OPA is None, reason="opa niet gevonden: make provision")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    root = tmp_path_factory.mktemp("dry-run-distinct")
    settings = Settings(data_dir=root / "data", keys_dir=root / "keys")
    assert OPA is not None
    fill(settings, 600, 40, OPA, seed=11)
    yield settings


def reports(settings: Settings, policy: Path, tmp: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report of `dry_run`, and of evaluating every melding, without their timings."""
    assert OPA is not None
    bundle = tmp / "bundle"
    revision = write_bundle(policy, bundle)
    found = []
    for run in (dry_run, lambda *a: _each(*a, 2, 100) or a[3]):
        inputs = PolicyInputs.of(settings)
        try:
            report = run(inputs, bundle, OPA, Report("kandidaat", revision))
        finally:
            inputs.close()
        document = report.as_json()
        document.pop("seconds")
        found.append(document)
    return found[0], found[1]


def test_the_grouped_report_is_the_report_of_every_melding(
    history: Settings, tmp_path: Path
) -> None:
    grouped, each = reports(history, without_riec_suspects(tmp_path), tmp_path)
    assert grouped == each
    assert grouped["meldingen"] == 600
    assert grouped["recipients"]["riec"]["changed"] > 0


def test_the_facts_key_leaves_out_only_ids_and_moments() -> None:
    asked = {
        "melding": {"melding_id": "a", "received_at": "t1", "municipality": "almelo"},
        "recipients": ["riec"],
        "context": {"requested_at": "t2"},
    }
    other = {
        "melding": {"melding_id": "b", "received_at": "t3", "municipality": "almelo"},
        "recipients": ["riec"],
        "context": {"requested_at": "t4"},
    }
    assert facts_key(asked) == facts_key(other)
    assert facts_key(asked) != facts_key({**other, "recipients": ["veilig_thuis"]})


def test_a_candidate_naming_a_per_melding_field_is_evaluated_melding_by_melding(
    history: Settings, tmp_path: Path
) -> None:
    assert OPA is not None
    assert not reads_per_melding_fields(OPA, POLICIES)
    policy = patched(tmp_path, 'input.melding.melding_id < "8"')
    assert reads_per_melding_fields(OPA, policy)
    grouped, each = reports(history, policy, tmp_path)
    assert grouped == each
    assert grouped["recipients"]["riec"]["by_direction"]["allow_to_deny"] > 0


def test_a_candidate_reaching_the_melding_id_unnamed_is_caught_by_the_second_evaluation(
    history: Settings, tmp_path: Path
) -> None:
    assert OPA is not None
    policy = patched(tmp_path, 'some k, v in input.melding\n\tendswith(k, "g_id")\n\tv < "8"')
    assert not reads_per_melding_fields(OPA, policy)  # the static check cannot see it
    grouped, each = reports(history, policy, tmp_path)
    assert grouped == each  # the groups' second evaluations differed: melding by melding
    changed = grouped["recipients"]["riec"]["by_direction"]["allow_to_deny"]
    assert 0 < changed < 600


def patched(tmp: Path, condition: str) -> Path:
    """policies/ where the RIEC gets nothing when `condition` holds."""
    target = tmp / "kandidaat"
    shutil.copytree(POLICIES, target)
    riec = target / "kmt" / "riec" / "riec.rego"
    rule = "allow if count(indicators) > 0\n"
    source = riec.read_text()
    assert rule in source
    riec.write_text(
        source.replace(rule, "allow if {\n\tcount(indicators) > 0\n\tnot per_melding\n}\n")
        + f"\nper_melding if {{\n\t{condition}\n}}\n"
    )
    return target
