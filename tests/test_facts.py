"""What the policies see of a melding (issue 8): `policy_facts` and `build_input`.

Relations are reduced to a closed vocabulary (the age: `test_ages.py`); and neither a
scenario nor a melding with every identifying field filled with a marker gets any
identifying value into the policy input. The Rego fixture is checked to
be a valid facts document, equal to the facts of the melding it stands for.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from pydantic import BaseModel, ValidationError

from services.common import models
from services.common.facts import (
    OTHER_RELATION,
    RELATIONS,
    PolicyFacts,
    ReporterFacts,
    SignalFacts,
    SuspectFacts,
    VictimFacts,
    policy_facts,
    present_paths,
    relation,
)
from services.common.models import MELDING_PATHS, Melding
from services.policy.engine import POLICIES, build_input, find_opa_binary

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.json"))
MARKER = "MERKTEKEN"
REQUESTED_AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def scenario_melding(scenario: Path) -> Melding:
    data: dict[str, Any] = json.loads(scenario.read_text(encoding="utf-8"))["melding"]
    number = int(scenario.stem)
    return Melding.model_validate({"melding_id": str(UUID(int=number)), **data})


def marker_melding() -> Melding:
    """Every field of the melding filled; every free text carries MARKER."""
    address = {
        "street": f"{MARKER}-straat",
        "house_number": "987b",
        "postal_code": "9999 ZZ",
        "city": f"{MARKER}-woonplaats",
    }
    return Melding.model_validate(
        {
            "melding_id": str(UUID(int=99)),
            "received_at": "2026-03-02T09:30:00Z",
            "reporter": {
                "type": "zorg_wijkteam",
                "organisation": f"{MARKER}-organisatie",
                "partner_id": "wijkteam-almelo",
            },
            "municipality": "enschede",
            "exploitation_forms": ["arbeidsuitbuiting", "criminele_uitbuiting"],
            "case": {"wgs_designated": True},
            "victim": {
                "name": f"{MARKER}-slachtoffer",
                "birth_date": "1987-11-23",
                "age": 41,
                "gender": "man",
                "nationality": "PL",
                "bsn": "123456782",
                "address": address,
                "phone": "+31698765432",
                "health_information": f"{MARKER}-gezondheid",
                "consent": True,
            },
            "suspects": [
                {
                    "name": f"{MARKER}-verdachte",
                    "birth_date": "1979-06-17",
                    "role": "dader",
                    "relation_to_victim": f"oom van {MARKER}-familie",
                    "description": f"{MARKER}-omschrijving",
                },
                {
                    "name": f"{MARKER}-tweede",
                    "birth_date": "1968-09-30",
                    "role": "facilitator",
                    "relation_to_victim": "  Stiefvader ",
                    "description": f"{MARKER}-tweede-omschrijving",
                },
            ],
            "location": {
                "description": f"{MARKER}-locatie",
                "address": {**address, "street": f"{MARKER}-locatiestraat", "house_number": "654"},
                "business_name": f"{MARKER}-bedrijf",
                "kvk_number": "87654321",
            },
            "signals": {
                "narrative": f"{MARKER}-verhaal",
                "acute_danger": True,
                "safety_risk": True,
                "domestic_violence": True,
                "minors_in_household": True,
                "risk_summary": f"{MARKER}-risico",
                "undermining_indicators": ["witwassen", "vastgoed"],
            },
            "provenance": [
                {
                    "source": "zorg",
                    "regime": "AVG",
                    "fields": ["victim.health_information"],
                    "onward_consent": True,
                }
            ],
        }
    )


def identifying_values(melding: Melding) -> list[str]:
    """The melding's identities and free texts, as they could appear in JSON."""
    victim, location = melding.victim, melding.location
    values: list[object] = [
        melding.reporter.organisation,
        victim.name,
        victim.birth_date,
        victim.bsn,
        victim.phone,
        victim.health_information,
        melding.signals.narrative,
        melding.signals.risk_summary,
    ]
    addresses = [victim.address]
    for suspect in melding.suspects:
        values += [suspect.name, suspect.birth_date, suspect.description]
        if relation(suspect.relation_to_victim) == OTHER_RELATION:
            values.append(suspect.relation_to_victim)
    if location is not None:
        values += [location.description, location.business_name, location.kvk_number]
        addresses.append(location.address)
    for address in addresses:
        if address is not None:
            values += [address.street, address.house_number, address.postal_code, address.city]
    return [str(v) for v in values if v is not None and str(v).strip()]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def assert_no_identifying_values(payload: Any, melding: Melding) -> None:
    """No identifying value of `melding` anywhere in `payload` (long values as substrings,
    short ones such as house numbers as whole strings)."""
    text, leaves = json.dumps(payload, ensure_ascii=False), set(_strings(payload))
    for value in identifying_values(melding):
        if len(value) >= 5:
            assert value not in text, value
        else:
            assert value not in leaves, value
    victim = payload["melding"]["victim"]
    assert set(victim) == {"age", "consent"}


def test_vocabulary_covers_every_parent_relation_of_the_policies() -> None:
    config = json.loads((POLICIES / "kmt" / "config" / "data.json").read_text())
    assert set(config["parent_relations"]) <= RELATIONS
    assert all(term == " ".join(term.split()).lower() for term in RELATIONS)
    assert OTHER_RELATION in RELATIONS


@pytest.mark.parametrize(
    ("text", "term"),
    [
        (" Vader ", "vader"),
        ("STIEFMOEDER", "stiefmoeder"),
        ("pleeg\touder", OTHER_RELATION),
        ("partner", "partner"),
        ("Werkgever", "werkgever"),
        ("vader van Jan de Vries", OTHER_RELATION),
        ("Jan de Vries", OTHER_RELATION),
        ("   ", None),
        (None, None),
    ],
)
def test_relation_is_a_vocabulary_term_or_overig(text: str | None, term: str | None) -> None:
    assert relation(text) == term


def test_signal_facts_are_the_signals_without_free_text() -> None:
    assert set(SignalFacts.model_fields) == set(models.Signals.model_fields) - {
        "narrative",
        "risk_summary",
    }


def test_the_facts_are_exactly_these_fields() -> None:
    """An allowlist: a new fact for the policies is a deliberate change to this test."""
    shape: dict[type[BaseModel], set[str]] = {
        PolicyFacts: {
            "melding_id",
            "received_at",
            "reporter",
            "municipality",
            "exploitation_forms",
            "case",
            "victim",
            "suspects",
            "signals",
            "provenance",
            "present",
        },
        ReporterFacts: {"type", "partner_id"},
        VictimFacts: {"age", "consent"},
        SuspectFacts: {"role", "relation_to_victim"},
        models.Case: {"wgs_designated"},
        models.Provenance: {"source", "regime", "fields", "onward_consent"},
    }
    for model, fields in shape.items():
        assert set(model.model_fields) == fields, model.__name__
    facts = policy_facts(marker_melding()).model_dump(mode="json")
    with pytest.raises(ValidationError):
        PolicyFacts.model_validate({**facts, "victim": {"age": 3, "name": "x"}})
    with pytest.raises(ValidationError):
        PolicyFacts.model_validate({**facts, "present": ["victim.naam"]})


def test_present_names_filled_fields_only() -> None:
    full = present_paths(marker_melding())
    assert full == sorted(full) and set(full) <= MELDING_PATHS
    assert {"victim.name", "victim.health_information", "location.address"} <= set(full)
    assert {"signals.narrative", "signals.risk_summary", "reporter.partner_id"} <= set(full)
    assert not {"victim.pseudonym", "police_involved"} & set(full)
    data = marker_melding().model_dump(mode="json")
    data["victim"] = {"age": 30, "health_information": "  "}
    data["location"] = {"description": None}
    data["signals"] = {"narrative": ""}
    data["reporter"] = {"type": "gemeente", "organisation": "Gemeente Enschede"}
    sparse = set(present_paths(Melding.model_validate(data)))
    assert {"victim", "victim.age", "victim.gender", "reporter.organisation"} <= sparse
    absent = {"victim.name", "victim.health_information", "location", "signals.narrative"}
    assert not absent & sparse
    assert not {"victim.birth_date", "location.description", "reporter.partner_id"} & sparse


def test_marker_melding_fills_every_field_of_the_model() -> None:
    """So a field added to the melding is added here too, and tried against the facts."""
    melding = marker_melding()
    parts: list[BaseModel] = [
        melding,
        melding.reporter,
        melding.case,
        melding.victim,
        *melding.suspects,
        melding.signals,
        *melding.provenance,
    ]
    location, home = melding.location, melding.victim.address
    assert location is not None and location.address is not None and home is not None
    parts += [location, location.address, home]
    for part in parts:
        assert part.model_fields_set == set(type(part).model_fields), type(part).__name__


def test_marker_melding_reaches_the_policies_without_identities() -> None:
    melding = marker_melding()
    for recipient in models.RECIPIENTS:
        sent = build_input(melding, recipient, REQUESTED_AT)
        text = json.dumps(sent, ensure_ascii=False)
        assert MARKER.lower() not in text.lower()
        for value in ("1987", "123456782", "698765432", "87654321", "9999 ZZ", "987b", "654"):
            assert value not in text, value
        assert '"PL"' not in text and '"man"' not in text  # nationality and gender: unread
        assert_no_identifying_values(sent, melding)
        facts = sent["melding"]
        assert facts["victim"] == {"age": 38, "consent": True}
        assert facts["suspects"] == [
            {"role": "dader", "relation_to_victim": OTHER_RELATION},
            {"role": "facilitator", "relation_to_victim": "stiefvader"},
        ]
        assert facts["reporter"] == {"type": "zorg_wijkteam", "partner_id": "wijkteam-almelo"}
        assert facts["provenance"] == [
            {
                "source": "zorg",
                "regime": "AVG",
                "fields": ["victim.health_information"],
                "onward_consent": True,
            }
        ]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_reaches_the_policies_without_identities(scenario: Path) -> None:
    melding = scenario_melding(scenario)
    assert len(identifying_values(melding)) >= 15
    for recipient in models.RECIPIENTS:
        assert_no_identifying_values(build_input(melding, recipient, REQUESTED_AT), melding)


def test_rego_fixture_is_the_facts_of_its_melding() -> None:
    """policies/kmt/lib/fixtures_test.rego stands for this melding, seen through the facts."""
    binary = find_opa_binary()
    assert binary is not None, "opa ontbreekt: make provision of zet KMT_OPA_BIN"
    out = subprocess.run(
        [binary, "eval", "--format", "raw", "-d", str(POLICIES), "data.kmt.fixtures_test.base"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    fixture = PolicyFacts.model_validate_json(out)
    melding = Melding.model_validate(
        {
            "melding_id": "00000000-0000-4000-8000-000000000001",
            "received_at": "2026-03-02T09:30:00Z",
            "reporter": {"type": "gemeente", "organisation": "Gemeente Almelo"},
            "municipality": "almelo",
            "exploitation_forms": ["seksuele_uitbuiting"],
            "victim": {
                "name": "Test Persoon",
                "birth_date": "2001-05-14",
                "gender": "vrouw",
                "nationality": "NL",
                "bsn": "111222333",
                "address": {
                    "street": "Teststraat",
                    "house_number": "1",
                    "postal_code": "7600 AA",
                    "city": "Almelo",
                },
                "phone": "+31600000000",
            },
            "suspects": [
                {
                    "name": "T. Verdachte",
                    "birth_date": "1990-01-01",
                    "role": "dader",
                    "relation_to_victim": "partner",
                    "description": "testomschrijving",
                }
            ],
            "location": {"description": "vakantiepark"},
            "signals": {"narrative": "testverhaal"},
        }
    )
    assert fixture == policy_facts(melding)
