"""The Rego itself: strict check, formatting, its own tests with coverage, annotations,
and the served bundle with its revision. Needs the opa binary; never skipped."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from services.policy.engine import POLICIES, find_opa_binary, policy_revision, write_bundle

MIN_COVERAGE = 95.0
MIN_TESTS = 40  # the ten scenarios run in tests/test_decide_cli.py on top of these
UNVERIFIED = ("Gemeentewet art. 172", "AVG art. 9 lid 2 sub g")


def run_opa(*args: str) -> subprocess.CompletedProcess[str]:
    binary = find_opa_binary()
    assert binary is not None, "opa ontbreekt: make provision of zet KMT_OPA_BIN"
    return subprocess.run([binary, *args], capture_output=True, text=True, check=False)


def test_opa_check_strict() -> None:
    result = run_opa("check", "--strict", str(POLICIES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_opa_fmt_clean() -> None:
    result = run_opa("fmt", "--list", str(POLICIES))
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_opa_tests_pass_with_coverage() -> None:
    result = run_opa("test", "--coverage", str(POLICIES))
    report = json.loads(result.stdout)
    assert result.returncode == 0, run_opa("test", str(POLICIES)).stdout
    assert report["coverage"] >= MIN_COVERAGE, report["coverage"]
    listing = run_opa("test", "--format", "json", str(POLICIES))
    outcomes = json.loads(listing.stdout)
    assert len(outcomes) >= MIN_TESTS
    assert all(o.get("fail") is not True and not o.get("error") for o in outcomes)


def _annotations() -> list[dict[str, Any]]:
    out = run_opa("inspect", "--annotations", "--format", "json", str(POLICIES)).stdout
    return [entry["annotations"] for entry in json.loads(out)["annotations"]]


def test_every_reason_rule_is_annotated_with_title_and_law() -> None:
    annotated = {a["custom"]["rule"]: a for a in _annotations() if "rule" in a.get("custom", {})}
    emitted = {
        match
        for path in POLICIES.rglob("*.rego")
        if not path.name.endswith("_test.rego")
        for match in re.findall(r'"rule": "([a-z_.]+)"', path.read_text(encoding="utf-8"))
    }
    assert emitted and emitted <= set(annotated), emitted - set(annotated)
    for rule, note in annotated.items():
        assert note.get("title"), rule
        legal = note["custom"]["legal"]
        assert legal, rule
        for citation in legal:
            if citation.startswith(UNVERIFIED):
                assert "(verify)" in citation, (rule, citation)


def test_unverified_citations_are_marked_everywhere() -> None:
    for path in POLICIES.rglob("*"):
        if path.suffix not in {".rego", ".json"}:
            continue
        for marker in UNVERIFIED:
            for line in path.read_text(encoding="utf-8").splitlines():
                if marker in line:
                    assert "(verify)" in line, (path.name, line.strip())


def test_bundle_is_the_policies_without_tests_plus_revision(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    (out / "stale").mkdir(parents=True)
    revision = write_bundle(POLICIES, out)
    assert re.fullmatch(r"sha256:[0-9a-f]{16}", revision)
    assert revision == policy_revision(POLICIES)
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert "kmt/config/data.json" in files and "kmt/sharing/sharing.rego" in files
    assert not any(f.endswith("_test.rego") or f.endswith(".md") for f in files)
    assert not (out / "stale").exists()
    assert json.loads((out / ".manifest").read_text())["revision"] == revision
    meta = json.loads((out / "kmt_meta" / "data.json").read_text())
    assert meta == {"policy_revision": revision}
    evaluated = run_opa(
        "eval", "--bundle", str(out), "--format", "raw", "data.kmt.sharing.policy_revision"
    )
    assert evaluated.stdout.strip() == revision


def test_revision_follows_policy_content_not_tests(tmp_path: Path) -> None:
    copy = tmp_path / "policies"
    write_bundle(POLICIES, copy)
    (copy / ".manifest").unlink()
    (copy / "kmt_meta" / "data.json").unlink()
    before = policy_revision(copy)
    (copy / "kmt" / "extra_test.rego").write_text("package kmt.extra_test\n")
    assert policy_revision(copy) == before
    config = copy / "kmt" / "config" / "data.json"
    config.write_text(config.read_text().replace('"P1Y"', '"P6M"'))
    assert policy_revision(copy) != before
