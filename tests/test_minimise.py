"""minimise: only the decision's fields leave, pseudonyms are per recipient, retention dates."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.durations import add_duration
from services.common.models import (
    MELDING_PATHS,
    Address,
    Decision,
    Location,
    Melding,
    Provenance,
    Reason,
    Reporter,
    Signals,
    Suspect,
    Victim,
)
from services.sharing.allowlist import RESTRICTED_REGIMES
from services.sharing.minimise import expires_at, minimise, victim_pseudonym

ROOT = Path(__file__).resolve().parent.parent

KEY_A = b"a" * 32
KEY_B = b"b" * 32

# Personal values: long enough and varied enough that finding one in the output is meaningful.
personal = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "N", "Zs")), min_size=8, max_size=40
).filter(str.strip)
maybe = st.none().__or__


def bsns() -> st.SearchStrategy[str]:
    def complete(first8: str) -> str | None:
        check = sum(int(d) * w for d, w in zip(first8, (9, 8, 7, 6, 5, 4, 3, 2), strict=True))
        return first8 + str(check % 11) if check % 11 < 10 else None

    digits = st.text(alphabet="0123456789", min_size=8, max_size=8)
    return digits.map(complete).filter(lambda bsn: bsn is not None)  # type: ignore[return-value]


addresses = st.builds(
    Address,
    street=personal,
    house_number=st.text(alphabet="0123456789abc", min_size=1, max_size=5),
    postal_code=personal.map(lambda s: s[:20]),
    city=personal,
)
victims = st.builds(
    Victim,
    name=maybe(personal),
    birth_date=maybe(st.dates(min_value=date(1920, 1, 1), max_value=date(2026, 1, 1))),
    age=maybe(st.integers(0, 130)),
    nationality=maybe(st.sampled_from(["NL", "PL", "RO", "NG"])),
    bsn=maybe(bsns()),
    address=maybe(addresses),
    phone=maybe(personal.map(lambda s: s[:40])),
    health_information=maybe(personal),
    consent=maybe(st.booleans()),
)
suspects = st.builds(
    Suspect,
    name=maybe(personal),
    birth_date=maybe(st.dates(min_value=date(1910, 1, 1), max_value=date(2026, 1, 1))),
    relation_to_victim=maybe(personal),
    description=maybe(personal),
)
locations = st.builds(
    Location,
    description=maybe(personal),
    address=maybe(addresses),
    business_name=maybe(personal),
    kvk_number=maybe(st.from_regex(r"\A\d{8}\Z")),
)
meldingen = st.builds(
    Melding,
    melding_id=st.uuids(),
    # birth dates lie between 120 years before the melding and its Dutch date
    received_at=st.datetimes(
        min_value=datetime(2026, 1, 2), max_value=datetime(2029, 12, 31), timezones=st.just(UTC)
    ),
    reporter=st.builds(Reporter, organisation=personal, partner_id=maybe(personal)),
    victim=victims,
    suspects=st.lists(suspects, max_size=3),
    location=maybe(locations),
    signals=st.builds(Signals, narrative=personal, risk_summary=personal),
)
obligation_sets = st.lists(
    st.sampled_from(["pseudonymise:victim", "minimise:health", "retention:P5Y"]), unique=True
)


def decision(fields: list[str], obligations: list[str] = ()) -> Decision:  # type: ignore[assignment]
    return Decision(
        recipient="riec",
        allow=True,
        fields=fields,
        obligations=list(obligations),
        reasons=[Reason(rule="test", text="test")],
        policy_revision="test",
    )


def leaves(value: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """(path without list indices, value) for every scalar in a JSON-like value."""
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in leaves(item, (*path, key))]
    if isinstance(value, list):
        return [leaf for item in value for leaf in leaves(item, path)]
    return [(path, value)]


def key_names(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [*value, *(k for item in value.values() for k in key_names(item))]
    if isinstance(value, list):
        return [k for item in value for k in key_names(item)]
    return []


def listed(path: tuple[str, ...], fields: list[str]) -> bool:
    return any(path[: len(f.split("."))] == tuple(f.split(".")) for f in fields)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    melding=meldingen,
    fields=st.lists(st.sampled_from(sorted(MELDING_PATHS)), unique=True),
    obligations=obligation_sets,
)
def test_nothing_outside_fields_is_disclosed(
    melding: Melding, fields: list[str], obligations: list[str]
) -> None:
    out = minimise(melding, decision(fields, obligations), KEY_A)
    text = json.dumps(out, ensure_ascii=False)
    out_leaves = leaves(out)

    # Structure: every leaf in the output lies under a listed path.
    for path, _ in out_leaves:
        assert listed(path, fields), path

    # Values: no string of the melding outside the listed paths turns up, unless the same
    # value is also legitimately shared under a listed path.
    source = leaves(melding.model_dump(mode="json"))
    shared = {v for p, v in source if isinstance(v, str) and listed(p, fields)}
    keys_text = " ".join(key_names(out))
    for path, value in source:
        if not isinstance(value, str) or listed(path, fields) or value in shared:
            continue
        assert value not in {v for _, v in out_leaves}, path
        if len(value) >= 6 and not any(value in s for s in shared) and value not in keys_text:
            assert value not in text, path


@given(melding=meldingen, fields=st.lists(st.sampled_from(sorted(MELDING_PATHS)), unique=True))
def test_pseudonymise_victim_drops_direct_identifiers(melding: Melding, fields: list[str]) -> None:
    out = minimise(melding, decision([*fields, "victim"], ["pseudonymise:victim"]), KEY_A)
    victim = out.get("victim", {})
    for identifier in ("name", "birth_date", "bsn", "address", "phone"):
        assert identifier not in victim


def victim_melding(**victim: Any) -> Melding:
    return Melding(
        melding_id=uuid4(),
        received_at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        reporter=Reporter(type="gemeente", organisation="Gemeente Almelo"),
        municipality="almelo",
        exploitation_forms=["seksuele_uitbuiting"],
        victim=Victim(**victim),
    )


def test_pseudonym_stable_per_recipient_and_different_across_recipients() -> None:
    first = victim_melding(name="Sanne  de Vries", birth_date=date(2001, 5, 14))
    second = victim_melding(name="sanne de VRIES", birth_date=date(2001, 5, 14), gender="vrouw")
    riec = decision(["victim.pseudonym"], ["pseudonymise:victim"])
    assert minimise(first, riec, KEY_A) == minimise(second, riec, KEY_A)
    assert minimise(first, riec, KEY_A) != minimise(first, riec, KEY_B)
    assert len(minimise(first, riec, KEY_A)["victim"]["pseudonym"]) == 64


def test_pseudonym_prefers_bsn_and_needs_an_identity() -> None:
    with_bsn = Victim(name="A. Jansen", birth_date=date(2000, 1, 1), bsn="111222333")
    other_name = Victim(name="B. Jansen", bsn="111222333")
    assert victim_pseudonym(with_bsn, KEY_A) == victim_pseudonym(other_name, KEY_A)
    assert victim_pseudonym(Victim(name="Alleen Naam"), KEY_A) is None
    out = minimise(victim_melding(), decision(["victim.pseudonym"]), KEY_A)
    assert out == {}


def test_projection_covers_subpaths_omits_absent_and_adds_police_involved() -> None:
    melding = victim_melding(name="Sanne", gender="vrouw", nationality="NL")
    out = minimise(
        melding,
        decision(["victim.gender", "victim.address", "location", "police_involved", "signals"]),
        KEY_A,
    )
    assert out["victim"] == {"gender": "vrouw"}
    assert "location" not in out
    assert out["police_involved"] is True
    assert out["signals"]["acute_danger"] is False


def test_pseudonymise_victim_keeps_allowed_victim_fields() -> None:
    melding = victim_melding(name="Sanne", birth_date=date(2001, 5, 14), gender="vrouw")
    out = minimise(
        melding, decision(["victim", "victim.pseudonym"], ["pseudonymise:victim"]), KEY_A
    )
    assert set(out["victim"]) == {"gender", "pseudonym"}  # no None members either


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        ("P5Y", datetime(2031, 2, 28, 12, tzinfo=UTC)),
        ("P1M", datetime(2026, 3, 28, 12, tzinfo=UTC)),
        ("P1Y1M1DT1H1M1S", datetime(2027, 3, 29, 13, 1, 1, tzinfo=UTC)),
        ("P2W", datetime(2026, 3, 14, 12, tzinfo=UTC)),
        ("PT36H", datetime(2026, 3, 2, 0, tzinfo=UTC)),
    ],
)
def test_add_duration(duration: str, expected: datetime) -> None:
    assert add_duration(datetime(2026, 2, 28, 12, tzinfo=UTC), duration) == expected


def test_add_duration_clamps_month_end() -> None:
    assert add_duration(datetime(2026, 1, 31, tzinfo=UTC), "P1M") == datetime(
        2026, 2, 28, tzinfo=UTC
    )
    assert add_duration(datetime(2024, 2, 29, tzinfo=UTC), "P1Y") == datetime(
        2025, 2, 28, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "duration",
    [
        "",
        "P",
        "PT",
        "P1DT",
        "5Y",
        "P-1D",
        "P1.5Y",
        "P1Y2",
        "p1y",
        "P99999Y",
        "PT99999999999999999999S",
    ],
)
def test_malformed_duration_is_refused(duration: str) -> None:
    with pytest.raises(ValueError):
        add_duration(datetime(2026, 1, 1, tzinfo=UTC), duration)


def test_expires_at_takes_the_shortest_retention() -> None:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    assert expires_at(created, ["pseudonymise:victim"]) is None
    assert expires_at(created, ["retention:P5Y", "retention:P1Y"]) == datetime(
        2027, 1, 1, tzinfo=UTC
    )
    with pytest.raises(ValueError):
        expires_at(created, ["retention:vijf jaar"])


def test_age_is_given_without_the_birth_date_it_comes_from() -> None:
    base = Melding.model_validate(
        {
            "melding_id": "00000000-0000-0000-0000-000000000001",
            "received_at": "2026-03-02T09:30:00Z",
            "reporter": {"type": "gemeente", "organisation": "Gemeente Almelo"},
            "municipality": "almelo",
            "exploitation_forms": ["overig"],
            "victim": {"birth_date": "2008-03-02"},
        }
    )
    decision = Decision(
        recipient="riec", allow=True, fields=["victim.age"], obligations=["pseudonymise:victim"],
        reasons=[{"rule": "t", "text": "t"}], policy_revision="t",
    )  # fmt: skip
    assert minimise(base, decision, b"k") == {"victim": {"age": 18}}  # 18 on the day itself
    # The Dutch date counts: 22:59 UTC on 1 March is 23:59 in Amsterdam (winter time, UTC+1),
    # 23:00 UTC is already 2 March.
    day_before = base.model_copy(update={"received_at": datetime(2026, 3, 1, 22, 59, tzinfo=UTC)})
    assert minimise(day_before, decision, b"k") == {"victim": {"age": 17}}
    dutch_day = base.model_copy(update={"received_at": datetime(2026, 3, 1, 23, 0, tzinfo=UTC)})
    assert minimise(dutch_day, decision, b"k") == {"victim": {"age": 18}}
    # The example in summer time (UTC+2): 22:30 UTC on 14 June is 00:30 on 15 June.
    june = base.model_copy(update={
        "received_at": datetime(2026, 6, 14, 22, 30, tzinfo=UTC),
        "victim": Victim(birth_date=date(2008, 6, 15)),
    })  # fmt: skip
    assert minimise(june, decision, b"k") == {"victim": {"age": 18}}
    leap = base.model_copy(update={"victim": Victim(birth_date=date(2008, 2, 29))})
    assert minimise(leap.model_copy(update={"received_at": datetime(2026, 2, 28, tzinfo=UTC)}),
                    decision, b"k") == {"victim": {"age": 17}}  # fmt: skip
    assert minimise(leap, decision, b"k") == {"victim": {"age": 18}}  # 1 March
    given = base.model_copy(update={"victim": Victim(age=30, birth_date=date(2008, 3, 2))})
    assert minimise(given, decision, b"k") == {"victim": {"age": 30}}  # what was reported


def with_provenance(melding: Melding, paths: list[str], regime: str, consent: bool) -> Melding:
    entry = Provenance(source="politie", regime=regime, fields=paths, onward_consent=consent)
    return melding.model_copy(update={"provenance": [entry]})


RIEC_VICTIM = ["victim.pseudonym", "victim.age", "victim.gender"]


@pytest.mark.parametrize("regime", ["WPG", "WGS"])
@pytest.mark.parametrize("source", ["victim.bsn", "victim"])
def test_no_pseudonym_from_a_restricted_bsn(regime: str, source: str) -> None:
    melding = victim_melding(name="Sanne", birth_date=date(2001, 5, 14), bsn="111222333")
    riec = decision(RIEC_VICTIM, ["pseudonymise:victim"])
    restricted = minimise(with_provenance(melding, [source], regime, False), riec, KEY_A)
    assert "pseudonym" not in restricted.get("victim", {})
    # The age comes from the birth date, which only the whole `victim` path restricts here.
    assert ("age" in restricted.get("victim", {})) is (source == "victim.bsn")
    consented = minimise(with_provenance(melding, [source], regime, True), riec, KEY_A)
    assert consented["victim"]["pseudonym"] == victim_pseudonym(melding.victim, KEY_A)
    assert consented["victim"]["age"] == 24


def test_pseudonym_follows_only_the_sources_it_is_computed_from() -> None:
    riec = decision(["victim.pseudonym"], ["pseudonymise:victim"])
    with_bsn = victim_melding(name="Sanne", birth_date=date(2001, 5, 14), bsn="111222333")
    # With a BSN the pseudonym comes from the BSN alone: a restricted name does not matter.
    out = minimise(with_provenance(with_bsn, ["victim.name"], "WPG", False), riec, KEY_A)
    assert out == {"victim": {"pseudonym": victim_pseudonym(with_bsn.victim, KEY_A)}}
    without_bsn = victim_melding(name="Sanne", birth_date=date(2001, 5, 14))
    for source in ("victim.name", "victim.birth_date"):
        restricted = with_provenance(without_bsn, [source], "WPG", False)
        assert minimise(restricted, riec, KEY_A) == {}
        consented = with_provenance(without_bsn, [source], "WPG", True)
        assert minimise(consented, riec, KEY_A)["victim"]["pseudonym"]
    avg = with_provenance(without_bsn, ["victim.name"], "AVG", False)
    assert minimise(avg, riec, KEY_A)["victim"]["pseudonym"]


def test_no_age_from_a_restricted_birth_date() -> None:
    melding = victim_melding(birth_date=date(2001, 5, 14), gender="vrouw")
    riec = decision(RIEC_VICTIM, ["pseudonymise:victim"])
    restricted = with_provenance(melding, ["victim.birth_date"], "WGS", False)
    assert minimise(restricted, riec, KEY_A) == {"victim": {"gender": "vrouw"}}
    consented = with_provenance(melding, ["victim.birth_date"], "WGS", True)
    assert minimise(consented, riec, KEY_A)["victim"]["age"] == 24


def test_restricted_regimes_match_the_policy() -> None:
    config = json.loads((ROOT / "policies/kmt/config/data.json").read_text())
    assert set(config["restricted_regimes"]) == RESTRICTED_REGIMES
