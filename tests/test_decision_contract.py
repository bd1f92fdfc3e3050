"""The decision contract is enforced twice (issue 9 item 5).

Routing (and sharing's second question) refuse a policy answer that breaks the contract as
"policy unavailable", never as an allow: the real `opa eval` runs on a copy of the policies
whose entry point was rewritten to give the broken answer. Sharing then refuses to seal any
field that LEGAL.md's table does not let the recipient have, or that the policy itself must
withhold, whatever the policy says: a typo in the policy data (`victim.bsn` in the RIEC's
fields) is a dead letter with an alarm, not a BSN at the RIEC.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from services.bus.consumer import is_outage
from services.common.events import MalformedEvent
from services.common.models import RECIPIENTS, Decision, Melding, Reason
from services.policy.engine import (
    POLICIES,
    OneShotEngine,
    PolicyContractBroken,
    PolicyUnavailable,
    PolicyUnreachable,
    decide_all,
    find_opa_binary,
)
from services.sharing.allowlist import (
    ALLOWED,
    POLICE_FREE_FIELDS,
    ForbiddenDisclosure,
    refuse_forbidden,
    withheld,
)
from services.sharing.minimise import minimise
from tests.stack import scenario

CONFIG = json.loads((POLICIES / "kmt/config/data.json").read_text())
BSN = "111222333"


def opa() -> str:
    binary = find_opa_binary()
    assert binary is not None, "opa ontbreekt: make provision of zet KMT_OPA_BIN"
    return binary


def melding_of(name: str, **changes: Any) -> Melding:
    body = scenario(name)["melding"]
    return Melding.model_validate({**body, "melding_id": str(uuid4()), **changes})


def decide(policies: Path, melding: Melding, recipient: str = "riec") -> Decision:
    engine = OneShotEngine(policies, opa())
    try:
        return asyncio.run(engine.decide(melding, recipient))
    finally:
        asyncio.run(engine.close())


def answering(tmp_path: Path, answer: dict[str, Any]) -> Path:
    """A copy of the policies whose decision is always `answer`."""
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    (policies / "kmt/sharing/sharing_test.rego").unlink()
    (policies / "kmt/sharing/sharing.rego").write_text(
        f"package kmt.sharing\n\ndecision := {json.dumps(answer)}\n"
    )
    return policies


VALID = {
    "recipient": "riec",
    "allow": True,
    "purpose": "aanpak ondermijning",
    "legal_basis": ["AVG art. 6 lid 1 sub e"],
    "fields": ["exploitation_forms"],
    "obligations": ["retention:P2Y"],
    "reasons": [{"rule": "riec.ondermijning", "text": "ondermijning"}],
    "policy_revision": "test",
    "municipality": None,
    "alerts": [],
}


def test_a_decision_by_the_contract_is_taken(tmp_path: Path) -> None:
    decision = decide(answering(tmp_path, VALID), melding_of("02.json"))
    assert decision.allow is True and decision.recipient == "riec"


@pytest.mark.parametrize(
    "breach",
    [
        {"allow": "true"},
        {"allow": 1},
        {"allow": None},
        {"recipient": "veilig_thuis"},
        {"legal_basis": []},
        {"purpose": None},
        {"purpose": "   "},
        {"obligations": ["retention:P2J"]},
        {"obligations": ["retention:P99999Y"]},
    ],
    ids=lambda b: "-".join(f"{k}={v!r}" for k, v in b.items()),
)
def test_a_decision_that_breaks_the_contract_is_policy_unavailable(
    tmp_path: Path, breach: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    melding = melding_of("02.json")
    with pytest.raises(PolicyContractBroken) as refused:
        decide(answering(tmp_path, {**VALID, **breach}), melding)
    assert isinstance(refused.value, PolicyUnavailable)  # retried as unavailable, never allow
    assert not is_outage(refused.value)  # ... for a bounded time, then a dead letter
    assert "besluitcontract" in str(refused.value)
    assert str(melding.melding_id) not in caplog.text and "Sanne" not in caplog.text


def test_a_denial_needs_no_purpose_or_basis(tmp_path: Path) -> None:
    denial = {**VALID, "allow": False, "purpose": None, "legal_basis": [], "fields": []}
    assert decide(answering(tmp_path, denial), melding_of("02.json")).allow is False


def test_an_engine_that_does_not_answer_is_an_outage() -> None:
    assert is_outage(PolicyUnreachable("OPA niet bereikbaar (ClientConnectorError)"))


# One question for all three recipients (rule `decisions`): each answer checked alike.


def answering_all(tmp_path: Path, answers: Any) -> Path:
    """A copy of the policies whose `decisions` is always `answers` (and `decision` none)."""
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    (policies / "kmt/sharing/sharing.rego").write_text(
        f"package kmt.sharing\n\ndecisions := {json.dumps(answers)}\n"
    )
    return policies


def valid_set() -> dict[str, dict[str, Any]]:
    return {recipient: {**VALID, "recipient": recipient} for recipient in RECIPIENTS}


def decide_set(policies: Path, melding: Melding) -> list[Decision]:
    engine = OneShotEngine(policies, opa())
    try:
        return asyncio.run(decide_all(engine, melding))
    finally:
        asyncio.run(engine.close())


def test_a_decision_set_by_the_contract_is_taken_in_recipient_order(tmp_path: Path) -> None:
    answers = dict(reversed(valid_set().items()))
    decisions = decide_set(answering_all(tmp_path, answers), melding_of("02.json"))
    assert [d.recipient for d in decisions] == list(RECIPIENTS)
    assert all(d.allow for d in decisions)


@pytest.mark.parametrize("broken", RECIPIENTS)
@pytest.mark.parametrize(
    "breach",
    [
        {"allow": "true"},
        {"recipient": "riec"},
        {"recipient": "politie"},
        {"legal_basis": []},
        {"purpose": None},
        {"obligations": ["retention:P2J"]},
    ],
    ids=lambda b: "-".join(f"{k}={v!r}" for k, v in b.items()),
)
def test_one_broken_decision_refuses_the_whole_set(
    tmp_path: Path, broken: str, breach: dict[str, Any]
) -> None:
    answers = valid_set()
    answers[broken] = {**answers[broken], **breach}
    if answers[broken]["recipient"] == broken:  # the riec breach, asked of the riec itself
        answers[broken]["recipient"] = "veilig_thuis"
    with pytest.raises(PolicyContractBroken):
        decide_set(answering_all(tmp_path, answers), melding_of("02.json"))


@pytest.mark.parametrize(
    "answers",
    [
        {r: d for r, d in valid_set().items() if r != "veilig_thuis"},
        {**valid_set(), "veilig_thuis": None},
        list(valid_set().values()),
        True,
    ],
    ids=["one-missing", "one-null", "a-list", "a-boolean"],
)
def test_a_decision_set_without_a_decision_per_recipient_is_refused(
    tmp_path: Path, answers: Any
) -> None:
    with pytest.raises(PolicyUnavailable):
        decide_set(answering_all(tmp_path, answers), melding_of("02.json"))


# Sharing: the allow-list from LEGAL.md, whatever the policy says.


def riec_decision(fields: list[str], obligations: tuple[str, ...] = ()) -> Decision:
    return Decision(
        recipient="riec",
        allow=True,
        purpose="aanpak ondermijning",
        legal_basis=["AVG art. 6 lid 1 sub e"],
        fields=fields,
        obligations=list(obligations),
        reasons=[Reason(rule="t", text="t")],
        policy_revision="sha256:test",
    )


def test_a_typo_in_policy_data_does_not_ship_a_bsn_to_the_riec(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    config = json.loads((policies / "kmt/config/data.json").read_text())
    config["recipients"]["riec"]["fields"].append("victim.bsn")  # the typo
    (policies / "kmt/config/data.json").write_text(json.dumps(config))
    melding = melding_of("02.json")
    decision = decide(policies, melding)
    assert decision.allow and "victim.bsn" in decision.fields  # the policy would ship it
    with caplog.at_level(logging.ERROR), pytest.raises(ForbiddenDisclosure) as refused:
        refuse_forbidden(decision, melding)
    assert isinstance(refused.value, MalformedEvent)  # a dead letter, not a crash loop
    assert "victim.bsn niet toegestaan voor riec" in str(refused.value)
    alarm = [r for r in caplog.records if r.getMessage().startswith("ALARM verboden-veld")]
    assert alarm and str(melding.melding_id) in alarm[0].getMessage()
    assert BSN not in caplog.text and BSN not in str(refused.value)


@pytest.mark.parametrize(
    ("recipient", "field"),
    [
        ("riec", "victim.name"),
        ("riec", "victim"),
        ("riec", "signals.narrative"),
        ("riec", "victim.health_information"),
        ("gemeente_veiligheid", "suspects"),
        ("gemeente_veiligheid", "victim.age"),
        ("gemeente_veiligheid", "victim.pseudonym"),
        ("veilig_thuis", "reporter.organisation"),
        ("veilig_thuis", "signals"),
        ("veilig_thuis", "provenance"),
    ],
)
def test_a_field_outside_legal_table_is_refused(recipient: str, field: str) -> None:
    decision = riec_decision(["exploitation_forms", field]).model_copy(
        update={"recipient": recipient}
    )
    with pytest.raises(ForbiddenDisclosure, match="niet toegestaan"):
        refuse_forbidden(decision, melding_of("02.json"))


def test_health_data_goes_to_veilig_thuis_only_minimised() -> None:
    melding = melding_of("04.json")
    bare = riec_decision(["victim.health_information"]).model_copy(
        update={"recipient": "veilig_thuis"}
    )
    with pytest.raises(ForbiddenDisclosure, match="minimise:health"):
        refuse_forbidden(bare, melding)
    minimised = bare.model_copy(update={"obligations": ["minimise:health"]})
    refuse_forbidden(minimised, melding)


def test_police_data_is_refused_even_when_the_policy_lists_it() -> None:
    police = melding_of(
        "02.json",
        reporter={"type": "politie", "organisation": "Politie", "partner_id": "politie-oost"},
    )
    for field in ("suspects", "victim.pseudonym", "victim.age", "location.address"):
        with pytest.raises(
            ForbiddenDisclosure, match=re.escape(f"{field} is politie- of WGS-gegeven")
        ):
            refuse_forbidden(riec_decision(["exploitation_forms", field]), police)
    refuse_forbidden(riec_decision(sorted(POLICE_FREE_FIELDS)), police)
    wpg_bsn = melding_of(
        "02.json",
        provenance=[{"source": "politie", "regime": "WPG", "fields": ["victim.bsn"]}],
    )
    with pytest.raises(ForbiddenDisclosure, match=r"victim\.pseudonym"):
        refuse_forbidden(riec_decision(["victim.pseudonym"]), wpg_bsn)


def test_a_denial_is_never_refused() -> None:
    denial = riec_decision(["victim.bsn"]).model_copy(update={"allow": False})
    refuse_forbidden(denial, melding_of("02.json"))


PROVENANCE_VARIANTS: list[list[dict[str, Any]]] = [
    [],
    [{"source": "politie", "regime": "WPG", "fields": ["victim.bsn"]}],
    [{"source": "politie", "regime": "WPG", "fields": ["victim.birth_date"]}],
    [{"source": "riec", "regime": "WGS", "fields": ["victim"]}],
    [{"source": "politie", "regime": "WPG", "fields": ["suspects"], "onward_consent": True}],
    [{"source": "zorg", "regime": "AVG", "fields": ["location"]}],
    [{"source": "politie", "regime": "WPG", "fields": ["location.address", "signals"]}],
]


@pytest.mark.parametrize("name", [f"{n:02}.json" for n in range(1, 11)])
@pytest.mark.parametrize("police", [False, True], ids=["melder", "politie"])
def test_sharing_and_the_policy_agree_on_every_scenario(name: str, police: bool) -> None:
    """No false alarm: what the real policies allow passes the allow-list, and what the
    policy withholds is exactly what sharing's `withheld` says, for every variant."""
    binary = opa()
    engine = OneShotEngine(POLICIES, binary)
    try:
        for provenance in PROVENANCE_VARIANTS:
            changes: dict[str, Any] = {"provenance": provenance}
            if police:
                changes["reporter"] = {"type": "politie", "organisation": "Politie"}
            melding = melding_of(name, **changes)
            for decision in asyncio.run(decide_all(engine, melding)):
                refuse_forbidden(decision, melding)
                if not decision.allow:
                    continue
                base = CONFIG["recipients"][decision.recipient]["fields"]
                expected = {f for f in base if not withheld(melding, f)}
                assert expected <= set(decision.fields), (decision.recipient, provenance)
                assert set(decision.fields) - expected <= {
                    "police_involved",
                    "victim.health_information",
                }
                minimise(melding, decision, b"k" * 32)
    finally:
        asyncio.run(engine.close())


def test_the_policy_data_stays_within_legal_table() -> None:
    assert set(CONFIG["recipients"]) == set(RECIPIENTS)
    for recipient, conf in CONFIG["recipients"].items():
        fields = [*conf["fields"], *([conf["health_field"]] if "health_field" in conf else [])]
        assert set(fields) <= ALLOWED[recipient], recipient
    assert set(CONFIG["police_free_fields"]) == POLICE_FREE_FIELDS
