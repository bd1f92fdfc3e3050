"""What the policies see of a melding (issue 8): `policy_facts` and `build_input`.

The age is computed here as the policies used to (birthday on the reference date, 29
February, birth date over a given age), on the Dutch date of reception (Europe/Amsterdam,
issue 9 item 1); a birth date after that date or more than 120 years before it is refused;
relations are reduced to a closed
vocabulary; and neither a scenario nor a melding with every identifying field filled with
a marker gets any identifying value into the policy input. The Rego fixture is checked to
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

from services.common import facts, models
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
from services.sharing import minimise

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


def on(received_at: str, **victim: object) -> int | None:
    data = marker_melding().model_dump(mode="json")
    data["received_at"] = received_at
    data["victim"] = {"birth_date": None, "age": None, **victim}
    return policy_facts(Melding.model_validate(data)).victim.age


@pytest.mark.parametrize(
    ("received_at", "birth_date", "age"),
    [
        ("2026-03-02T09:30:00Z", "2008-03-02", 18),  # 18 on the day: adult
        ("2026-03-02T09:30:00Z", "2008-03-03", 17),  # one day short
        ("2026-03-02T09:30:00Z", "2008-02-10", 18),  # an earlier month has passed
        ("2026-02-28T12:00:00Z", "2008-02-29", 17),  # 29 February: not yet on 28 February
        ("2026-03-01T00:00:00Z", "2008-02-29", 18),  # ... but on 1 March
        ("2028-02-29T08:00:00Z", "2008-02-29", 20),  # and on the day in a leap year
        ("2026-03-02T00:30:00+02:00", "2008-03-02", 17),  # 23:30 on 1 March in Amsterdam
        ("2026-03-01T23:30:00-01:00", "2008-03-02", 18),  # 01:30 on 2 March in Amsterdam
        ("2026-03-02T09:30:00", "2008-03-02", 18),  # naive: taken as UTC
        # The example, summer time (UTC+2): 00:30 on 15 June in Amsterdam.
        ("2026-06-14T22:30:00Z", "2008-06-15", 18),
        ("2026-06-14T21:59:59Z", "2008-06-15", 17),  # 23:59:59 on 14 June
        # Winter time (UTC+1): 00:30 on 2 March in Amsterdam, still 1 March in UTC.
        ("2026-03-01T23:30:00Z", "2008-03-02", 18),
        ("2026-03-01T22:59:59Z", "2008-03-02", 17),  # 23:59:59 on 1 March
        ("2026-02-28T23:30:00Z", "2008-02-29", 18),  # 1 March in Amsterdam: 29 Feb counts
    ],
)
def test_age_on_the_dutch_date_of_received_at(received_at: str, birth_date: str, age: int) -> None:
    assert on(received_at, birth_date=birth_date) == age


def test_one_age_rule_for_the_policies_and_the_disclosure() -> None:
    assert minimise.age_on is facts.age_on


def birth_date_errors(received_at: str, birth_date: str) -> list[tuple[object, ...]]:
    data = marker_melding().model_dump(mode="json")
    data["received_at"] = received_at
    data["victim"]["birth_date"] = data["suspects"][1]["birth_date"] = birth_date
    try:
        Melding.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        assert birth_date not in str(exc)  # the date itself is not echoed
        return [(*e["loc"], e["type"], e["msg"]) for e in errors]
    return []


def test_birth_date_after_the_dutch_date_of_reception_is_refused() -> None:
    # 00:30 on 15 June in Amsterdam: born that day is possible, born the next day is not.
    assert birth_date_errors("2026-06-14T22:30:00Z", "2026-06-15") == []
    assert birth_date_errors("2026-06-14T22:30:00Z", "2026-06-16") == [
        ("victim", "birth_date", "birth_date_in_future",
         "geboortedatum ligt na de datum van de melding"),
        ("suspects", 1, "birth_date", "birth_date_in_future",
         "geboortedatum ligt na de datum van de melding"),
    ]  # fmt: skip


def test_birth_date_more_than_120_years_before_the_melding_is_refused() -> None:
    assert birth_date_errors("2026-06-14T22:30:00Z", "1907-06-15") == []  # 119 years
    assert birth_date_errors("2026-06-14T22:30:00Z", "1906-06-15") == []  # 120 on the day
    refused = birth_date_errors("2026-06-14T22:30:00Z", "1905-06-15")  # 121 years
    assert [error[:-1] for error in refused] == [
        ("victim", "birth_date", "birth_date_too_old"),
        ("suspects", 1, "birth_date", "birth_date_too_old"),
    ]
    assert refused[0][-1] == "geboortedatum ligt meer dan 120 jaar voor de datum van de melding"
    assert birth_date_errors("2026-06-14T22:30:00Z", "1906-06-14") != []  # a day too many


def test_given_age_counts_without_birth_date() -> None:
    assert on("2026-03-02T09:30:00Z", age=16) == 16
    assert on("2026-03-02T09:30:00Z") is None


def test_birth_date_wins_over_given_age() -> None:
    assert on("2026-03-02T09:30:00Z", birth_date="2001-05-14", age=12) == 24


def test_age_is_on_received_at_not_on_the_request() -> None:
    melding = scenario_melding(SCENARIOS[3])  # born 2010-01-20, received 2026-03-02
    later = build_input(melding, "veilig_thuis", requested_at=datetime(2040, 1, 1, tzinfo=UTC))
    assert later["melding"]["victim"]["age"] == 16
    assert later["melding"]["received_at"] == "2026-03-02T09:30:00Z"
    assert later["context"] == {"requested_at": "2040-01-01T00:00:00Z"}


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
