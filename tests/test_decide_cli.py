"""`kmt decide` with the one-shot `opa eval` engine: the ten worked scenarios, a full melding
reaching OPA only as its facts, invalid input (exit 2) and no policy engine (exit 3)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from services.common.dutch_dates import dutch_today
from services.common.models import RECIPIENTS, Decision
from services.policy import engine as policy
from services.routing.decide import decide_command
from tests.test_facts import MARKER, assert_no_identifying_values, marker_melding

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.json"))
PERSONAL = ("Sanne de Vries", "111222333", "Grotestraat", "2001-05-14", "R. Bakker")

app = typer.Typer()
app.command("decide")(decide_command)


@app.callback()
def _group() -> None:
    """Keeps `decide` a sub-command, as in `kmt decide`."""


@pytest.fixture(autouse=True)
def _one_shot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KMT_OPA_URL", raising=False)


def invoke(args: list[str], stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, ["decide", *args], input=stdin)


def melding_of(scenario: Path) -> dict[str, Any]:
    melding: dict[str, Any] = json.loads(scenario.read_text(encoding="utf-8"))["melding"]
    return melding


def check_expectations(decisions: list[Decision], expect: dict[str, Any]) -> None:
    by_recipient: dict[str, Decision] = {d.recipient: d for d in decisions}
    for recipient, wanted in expect.items():
        decision = by_recipient[recipient]
        assert decision.allow is wanted["allow"], (recipient, decision.reasons)
        if "municipality" in wanted:
            assert decision.municipality == wanted["municipality"]
        assert set(wanted.get("must_include", [])) <= set(decision.fields), recipient
        assert not set(wanted.get("must_exclude", [])) & set(decision.fields), recipient
        assert set(wanted.get("obligations_include", [])) <= set(decision.obligations)


def test_there_are_ten_scenarios() -> None:
    assert len(SCENARIOS) == 10


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_through_kmt_decide(scenario: Path, tmp_path: Path) -> None:
    file = tmp_path / "melding.json"
    file.write_text(json.dumps(melding_of(scenario)), encoding="utf-8")
    result = invoke([str(file)])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    decisions = [Decision.model_validate(d) for d in json.loads(result.stdout)]
    assert [d.recipient for d in decisions] == list(RECIPIENTS)
    for decision in decisions:
        assert decision.reasons
        assert decision.policy_revision.startswith("sha256:")
        assert (decision.municipality is not None) == (decision.recipient == "gemeente_veiligheid")
        if decision.allow:
            assert decision.purpose and decision.legal_basis and decision.fields
            assert any(o.startswith("retention:P") for o in decision.obligations)
        else:
            assert not (decision.purpose or decision.legal_basis or decision.fields)
    check_expectations(decisions, json.loads(scenario.read_text(encoding="utf-8"))["expect"])
    assert not any(value in result.stdout for value in PERSONAL)


def test_full_melding_reaches_opa_only_as_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    melding = marker_melding()
    sent: list[dict[str, Any]] = []
    build = policy.build_input

    def spy(*args: Any, **kwargs: Any) -> dict[str, Any]:
        sent.append(build(*args, **kwargs))
        return sent[-1]

    monkeypatch.setattr(policy, "build_input", spy)
    result = invoke(["-"], stdin=melding.model_dump_json())
    assert result.exit_code == 0, result.stderr
    assert [d["allow"] for d in json.loads(result.stdout)] == [True, False, True]  # acuut
    assert [s["recipients"] for s in sent] == [list(RECIPIENTS)]  # one question, all three
    for payload in sent:
        assert MARKER.lower() not in json.dumps(payload).lower()
        assert_no_identifying_values(payload, melding)
    assert MARKER not in result.stdout


def test_stdin_gives_the_same_stable_output() -> None:
    text = json.dumps(melding_of(SCENARIOS[6]))
    first, second = invoke(["-"], stdin=text), invoke(["-"], stdin=text)
    assert first.exit_code == second.exit_code == 0
    assert first.stdout == second.stdout


def test_received_at_defaults_to_now_and_melding_id_is_optional() -> None:
    melding = melding_of(SCENARIOS[3])
    del melding["received_at"]
    melding["victim"]["birth_date"] = f"{date.today().year - 10}-01-01"  # a minor today
    result = invoke(["-"], stdin=json.dumps(melding))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)[2]["allow"] is True


def test_invalid_melding_exit_2_names_paths_not_values() -> None:
    melding = melding_of(SCENARIOS[0])
    melding["victim"]["bsn"] = "123456789"
    melding["municipality"] = "amsterdam"
    melding["suspects"][0]["kleur"] = "blauw"
    del melding["exploitation_forms"]
    result = invoke(["-"], stdin=json.dumps(melding))
    assert result.exit_code == 2
    assert result.stdout == ""
    for path in ("victim.bsn", "municipality", "suspects[0].kleur", "exploitation_forms"):
        assert path in result.stderr
    assert "123456789" not in result.stderr and "amsterdam" not in result.stderr
    assert "Ongeldige melding" in result.stderr


@pytest.mark.parametrize(
    ("received_at", "minor"),
    [
        ("2026-06-14T22:30:00Z", False),  # the example: 00:30 on 15 June, 18 that day
        ("2026-06-14T21:59:59Z", True),  # 23:59:59 on 14 June in Amsterdam (UTC+2)
        ("2026-01-14T23:30:00Z", False),  # winter time (UTC+1): 00:30 on 15 January
        ("2026-01-14T22:59:59Z", True),  # 23:59:59 on 14 January
    ],
)
def test_age_counts_on_the_dutch_date_of_received_at(received_at: str, minor: bool) -> None:
    melding = melding_of(SCENARIOS[3])  # Veilig Thuis is informed about a minor only
    melding["received_at"] = received_at
    melding["victim"]["birth_date"] = "2008-06-15" if "-06-" in received_at else "2008-01-15"
    result = invoke(["-"], stdin=json.dumps(melding))
    assert result.exit_code == 0, result.stderr
    veilig_thuis = Decision.model_validate(json.loads(result.stdout)[2])
    assert veilig_thuis.allow is minor
    assert ("veilig_thuis.minderjarig" in {r.rule for r in veilig_thuis.reasons}) is minor


@pytest.mark.parametrize(
    ("birth_date", "message"),
    [
        ("2026-06-16", "geboortedatum ligt na de datum van de melding"),  # after 15 June NL
        ("1905-06-14", "geboortedatum ligt meer dan 120 jaar voor de datum van de melding"),
    ],
)
def test_implausible_birth_date_exit_2_with_a_dutch_message(birth_date: str, message: str) -> None:
    melding = melding_of(SCENARIOS[3])
    melding["received_at"] = "2026-06-14T22:30:00Z"  # 15 June in Amsterdam
    melding["victim"]["birth_date"] = birth_date
    result = invoke(["-"], stdin=json.dumps(melding))
    assert result.exit_code == 2 and result.stdout == ""
    assert f"victim.birth_date: {message}" in result.stderr
    assert birth_date not in result.stderr


def test_plausible_birth_dates_at_the_edges_are_accepted() -> None:
    melding = melding_of(SCENARIOS[3])
    melding["received_at"] = "2026-06-14T22:30:00Z"
    for birth_date in ("2026-06-15", "1907-06-15", "1906-06-15"):  # born that day, 119, 120
        melding["victim"]["birth_date"] = birth_date
        result = invoke(["-"], stdin=json.dumps(melding))
        assert result.exit_code == 0, (birth_date, result.stderr)


def test_birth_date_tomorrow_without_received_at_exit_2() -> None:
    melding = melding_of(SCENARIOS[3])
    del melding["received_at"]  # now, as intake would assign it
    melding["victim"]["birth_date"] = (dutch_today() + timedelta(days=1)).isoformat()
    result = invoke(["-"], stdin=json.dumps(melding))
    assert result.exit_code == 2
    assert "victim.birth_date: geboortedatum ligt na de datum van de melding" in result.stderr


@pytest.mark.parametrize("text", ["{", "[]", "null"])
def test_not_a_json_object_exit_2(text: str) -> None:
    result = invoke(["-"], stdin=text)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr


def test_missing_file_exit_2(tmp_path: Path) -> None:
    result = invoke([str(tmp_path / "bestaat-niet.json")])
    assert result.exit_code == 2 and result.stdout == ""
    assert "Kan de invoer niet lezen" in result.stderr


def test_no_opa_binary_exit_3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KMT_OPA_BIN", "/nonexistent/opa")
    result = invoke(["-"], stdin=json.dumps(melding_of(SCENARIOS[0])))
    assert result.exit_code == 3 and result.stdout == ""
    assert "KMT_OPA_URL" in result.stderr and "KMT_OPA_BIN" in result.stderr


def test_invalid_opa_url_exit_3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KMT_OPA_URL", "opa-zonder-schema")
    result = invoke(["-"], stdin=json.dumps(melding_of(SCENARIOS[0])))
    assert result.exit_code == 3 and result.stdout == ""
    assert "KMT_OPA_URL is ongeldig" in result.stderr
