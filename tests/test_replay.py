"""`kmt demo replay`: the worked scenarios sent through intake's real API, as a partner sends
them, on a test deployment whose clock is fixed to the scenarios' date (KMT_REFERENCE_TIME)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.devstack.replay import replay
from tests.stack import SCENARIOS, Stack

pytestmark = pytest.mark.integration


def test_every_worked_scenario_decides_as_expected_through_intake(scenario_stack: Stack) -> None:
    outcomes = replay(sorted(SCENARIOS.glob("*.json")), scenario_stack.settings)
    assert len(outcomes) == 10
    assert [(o.scenario, o.problems) for o in outcomes if o.problems] == []
    assert all(o.melding_id for o in outcomes)


def test_the_reference_time_decides_age_not_the_day_of_the_test(
    scenario_stack: Stack, tmp_path: Path
) -> None:
    """17 on the scenarios' date, 18 on any day from 1 May 2026: only a fixed clock keeps
    this a minor, so Veilig Thuis is informed."""
    case = json.loads((SCENARIOS / "04.json").read_text())
    case["melding"]["victim"]["birth_date"] = "2008-05-01"
    file = tmp_path / "17-jaar.json"
    file.write_text(json.dumps(case))
    (outcome,) = replay([file], scenario_stack.settings)
    assert outcome.problems == ()


def test_a_scenario_that_does_not_hold_is_named_with_what_differs(
    scenario_stack: Stack, tmp_path: Path
) -> None:
    case = json.loads((SCENARIOS / "02.json").read_text())
    case["expect"]["riec"]["allow"] = False
    file = tmp_path / "fout.json"
    file.write_text(json.dumps(case))
    (outcome,) = replay([file], scenario_stack.settings)
    assert outcome.problems == ("riec: allow is True, verwacht False",)
