"""A melding from the police is police data (issue 9 item 2, LEGAL.md rule 10).

Intake lets only a partner registered as police report as `politie`, and the police only as
`politie`; the policy then treats every field as WPG without onward consent unless a
provenance entry says otherwise, so what a recipient gets is `police_involved`,
`exploitation_forms` and `municipality`. No broker is needed for intake's refusals: they
come before one is; the decisions come from the real policies through `opa eval`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import OKPKey

from services.common.models import Decision, Melding, ReporterType
from services.common.partner_auth import issue_access_token
from services.common.partners import (
    REPORTER_TYPES_OF_KIND,
    PartnerKind,
    PartnerRegistry,
    new_partner,
)
from services.common.settings import Settings
from services.devstack.paths import free_port
from services.intake.app import create_app
from services.keyring import generate_all
from services.policy.engine import POLICIES, OneShotEngine, decide_all, find_opa_binary
from services.sharing.minimise import minimise
from tests.stack import submission

NOT_POLICE_DATA = {"exploitation_forms", "municipality", "police_involved"}


class Reporters:
    """Intake with one registered reporting partner of every kind."""

    def __init__(self, client: TestClient, settings: Settings, registry: PartnerRegistry):
        self.client = client
        self.settings = settings
        self.registry = registry

    def post(self, partner_id: str, reporter_type: str, key: str) -> Any:
        partner = self.registry.get(partner_id)
        assert partner is not None
        token = issue_access_token(partner, "intake", self.settings.keys_dir)
        body = submission("02.json")
        body["reporter"] = {**body["reporter"], "type": reporter_type}
        return self.client.post(
            "/v1/meldingen",
            json=body,
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
        )


@pytest.fixture
def reporters(tmp_path: Path) -> Iterator[Reporters]:
    settings = Settings(
        kafka_bootstrap=f"127.0.0.1:{free_port()}",  # no broker: refusals come before one
        data_dir=tmp_path / "data",
        keys_dir=tmp_path / "keys",
        partners_file=tmp_path / "partners.json",
        staff_file=tmp_path / "staff.json",
    )
    generate_all(settings.keys_dir)
    registry = PartnerRegistry()
    for partner_id, kind in (("politie-oost", "politie"), ("wijkteam-almelo", "zorg_wijkteam")):
        registry = registry.with_partner(
            new_partner(
                id=partner_id,
                name=partner_id,
                kind=kind,
                auth_key=OKPKey.generate_key("Ed25519").as_dict(private=False),
            )
        )
    registry.save(settings.partners_file)
    yield Reporters(TestClient(create_app(settings)), settings, registry)  # no lifespan: no bus


@pytest.mark.parametrize(
    ("partner_id", "claimed", "registered"),
    [
        ("wijkteam-almelo", "politie", "zorg_wijkteam"),
        ("politie-oost", "gemeente", "politie"),
        ("politie-oost", "anders", "politie"),
    ],
)
def test_a_reporter_type_that_contradicts_the_registry_is_a_422_naming_both(
    reporters: Reporters, partner_id: str, claimed: str, registered: str
) -> None:
    refused = reporters.post(partner_id, claimed, key="k-1")
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert "reporter.type" in detail and repr(claimed) in detail and repr(registered) in detail
    assert partner_id in detail
    # Nothing changed: the same Idempotency-Key is still free for the corrected melding (not
    # a 422 "key already used for another melding"; without a broker it is not yet sent).
    right = "politie" if registered == "politie" else "zorg_wijkteam"
    assert reporters.post(partner_id, right, key="k-1").status_code in (202, 503)


def test_every_partner_kind_has_its_reporter_types_and_only_the_police_reports_as_police() -> None:
    assert set(REPORTER_TYPES_OF_KIND) == set(get_args(PartnerKind))
    assert set().union(*REPORTER_TYPES_OF_KIND.values()) <= set(get_args(ReporterType))
    assert {kind for kind, types in REPORTER_TYPES_OF_KIND.items() if "politie" in types} == {
        "politie"
    }
    assert REPORTER_TYPES_OF_KIND["politie"] == {"politie"}


def police_melding(**changes: Any) -> Melding:
    """Scenario 02 (suspects, a location, a victim with BSN) as the police would report it,
    with a signal for every recipient."""
    body = submission("02.json")
    signals = {**body.get("signals", {}), "safety_risk": True, "minors_in_household": True}
    return Melding.model_validate(
        {
            **body,
            "reporter": {
                "type": "politie",
                "organisation": "Politie",
                "partner_id": "politie-oost",
            },
            "signals": signals,
            "melding_id": str(uuid4()),
            "received_at": datetime(2026, 3, 2, 9, 30, tzinfo=UTC).isoformat(),
            **changes,
        }
    )


def decisions(melding: Melding) -> list[Decision]:
    """The real policies' decisions for every recipient."""
    binary = find_opa_binary()
    assert binary is not None, "opa ontbreekt: make provision of zet KMT_OPA_BIN"
    engine = OneShotEngine(POLICIES, binary)
    try:
        return asyncio.run(decide_all(engine, melding))
    finally:
        asyncio.run(engine.close())


def test_a_police_melding_discloses_only_police_involved_and_non_police_fields() -> None:
    melding = police_melding()
    allowed = [d for d in decisions(melding) if d.allow]
    assert {d.recipient for d in allowed} == {"riec", "gemeente_veiligheid", "veilig_thuis"}
    for decision in allowed:
        assert set(decision.fields) == NOT_POLICE_DATA, decision.recipient  # the policy
        data = minimise(melding, decision, b"k" * 32)  # and what sharing seals
        assert set(data) == NOT_POLICE_DATA and data["police_involved"] is True


def test_provenance_can_release_a_field_of_a_police_melding() -> None:
    release = {"source": "politie", "regime": "WPG", "fields": ["suspects"], "onward_consent": True}
    melding = police_melding(provenance=[release])
    (riec,) = [d for d in decisions(melding) if d.recipient == "riec"]
    assert set(riec.fields) == NOT_POLICE_DATA | {"suspects"}  # no pseudonym from a police BSN
    assert set(minimise(melding, riec, b"k" * 32)) == NOT_POLICE_DATA | {"suspects"}
