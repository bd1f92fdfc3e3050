"""The checks a candidate policy must pass before it becomes a version, each refusal with the
reason in Dutch: it compiles (`opa check --strict`), its own tests pass (`opa test`), its
policy data is usable (`check_policy_data`, when the bundle is staged) and its answers keep
the decision contract (`engine._to_decisions`, the check routing applies to every answer)
for the policy facts of the worked scenarios (`contract_facts.json`, the facts of
tests/scenarios; a test keeps the two in step)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from services.common.facts import PolicyFacts
from services.common.models import RECIPIENTS
from services.policy.engine import ALL_RULE, PACKAGE, PolicyUnavailable, _to_decisions, build_input

CONTRACT_FACTS = Path(__file__).with_name("contract_facts.json")
_MAX_DETAIL = 600


class CandidateRefused(ValueError):
    """The candidate policy is not built into a version; the message says why, in Dutch."""


def contract_facts() -> list[PolicyFacts]:
    """The policy facts every candidate is asked about (the worked scenarios)."""
    stored = json.loads(CONTRACT_FACTS.read_text(encoding="utf-8"))
    return [PolicyFacts.model_validate(item) for item in stored]


def check_sources(opa: str, directory: Path) -> None:
    """The candidate's Rego compiles strictly and its own tests pass."""
    checked = _run(opa, directory, "check", "--strict", ".")
    if checked.returncode != 0:
        raise CandidateRefused(f"het beleid compileert niet (opa check): {_detail(checked)}")
    tested = _run(opa, directory, "test", "--format", "json", ".")
    if tested.returncode != 0:
        failing = _failing_tests(tested.stdout)
        detail = ", ".join(failing) if failing else _detail(tested)
        raise CandidateRefused(f"de tests van het beleid falen (opa test): {detail}")


def check_contract(opa: str, bundle: Path) -> None:
    """Every decision the staged `bundle` gives on the worked scenarios keeps the decision
    contract: a boolean `allow`, an allow with purpose and legal basis, fields within the
    melding schema, readable retention durations, one decision per recipient."""
    asked = contract_facts()
    inputs = [build_input(facts, RECIPIENTS) for facts in asked]
    query = (
        f"{{i: d | some i, x in input.inputs; "
        f"d := data.{PACKAGE.replace('/', '.')}.{ALL_RULE} with input as x}}"
    )
    result = subprocess.run(
        [opa, "eval", "--format", "json", "--bundle", str(bundle), "--stdin-input", query],
        input=json.dumps({"inputs": inputs}), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise CandidateRefused(f"het beleid geeft een fout bij het beslissen: {_detail(result)}")
    answers = _value(result.stdout)
    for index, facts in enumerate(asked):
        try:
            _to_decisions(answers.get(str(index)) if isinstance(answers, dict) else None)
        except PolicyUnavailable as exc:
            raise CandidateRefused(
                f"voorbeeldmelding {index + 1} ({facts.melding_id}): {exc}"
            ) from None


def _run(opa: str, directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Run inside the candidate, so that OPA's messages name its files relative to it.
    return subprocess.run([opa, *args], cwd=directory, capture_output=True, text=True, check=False)


def _failing_tests(stdout: str) -> list[str]:
    try:
        outcomes: Any = json.loads(stdout)
    except ValueError:
        return []
    if not isinstance(outcomes, list):
        return []
    return sorted(
        f"{o.get('package', '?')}.{o.get('name', '?')}"
        for o in outcomes
        if isinstance(o, dict) and (o.get("fail") or o.get("error"))
    )


def _value(stdout: str) -> Any:
    try:
        results = json.loads(stdout).get("result") or [{}]
    except (ValueError, AttributeError):
        raise CandidateRefused("opa eval gaf geen JSON") from None
    expressions = results[0].get("expressions") or [{}]
    return expressions[0].get("value")


def _detail(result: subprocess.CompletedProcess[str]) -> str:
    text = " ".join((result.stderr or result.stdout).split())
    return text[:_MAX_DETAIL] or f"exit {result.returncode}"
