"""Bad input gets a Dutch 4xx, never a 500: integers too large for the stores (SQLite's 64
bits) and JSON nested deeper than anything a contract needs (RecursionError), against each
service's own app. No broker is needed: these requests are refused before one is."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey, OKPKey

from services.audit.api import create_app as create_audit
from services.audit.ledger import Ledger
from services.audit.sqlite_store import SqliteStore
from services.common.body_limits import too_large
from services.common.http import MAX_INTEGER, MAX_JSON_DEPTH, SMALL_BODY_BYTES, TOO_DEEP
from services.common.partner_auth import issue_access_token
from services.common.partners import PartnerRegistry, new_partner
from services.common.settings import Settings
from services.common.staff import add_member
from services.intake.app import create_app as create_intake
from services.keyring import generate_all
from services.sharing.app import create_app as create_sharing

TOO_BIG = 2**63  # 9223372036854775808: one more than SQLite's largest integer
DEEP = "[" * 100_000


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@dataclass
class Services:
    settings: Settings
    apps: dict[str, FastAPI]
    partner_auth: dict[str, dict[str, str]]
    """The Authorization header of a registered partner, per service."""
    worker_auth: dict[str, str]

    def client(self, service: str) -> TestClient:
        return TestClient(self.apps[service])  # no lifespan: nothing here reaches the broker


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    settings = Settings(
        data_dir=tmp_path / "data",
        keys_dir=tmp_path / "keys",
        partners_file=tmp_path / "partners.json",
        staff_file=tmp_path / "staff.json",
    )
    generate_all(settings.keys_dir)
    partner = new_partner(
        id="riec-on",
        name="RIEC Oost-Nederland",
        kind="riec",
        auth_key=OKPKey.generate_key("Ed25519").as_dict(private=False),
        encryption_key=dict(ECKey.generate_key("P-256").as_dict(private=False)),
    )
    PartnerRegistry().with_partner(partner).save(settings.partners_file)
    ledger = Ledger(SqliteStore(tmp_path / "audit.sqlite3"), Ed25519PrivateKey.generate())
    apps = {
        "intake": create_intake(settings),
        "sharing": create_sharing(settings),
        "audit": create_audit(ledger, b"k" * 32, settings.staff_file),
    }
    yield Services(
        settings,
        apps,
        {
            service: {"Authorization": f"Bearer {issue_access_token(partner, service, k)}"}
            for service, k in (("intake", settings.keys_dir), ("sharing", settings.keys_dir))
        },
        {"Authorization": f"Bearer {add_member('kmt-1', 'kmt_worker', settings.staff_file)}"},
    )
    ledger.close()


def integer_schemas(schema: dict[str, Any]) -> list[dict[str, Any]]:
    if schema.get("type") == "integer":
        return [schema]
    return [s for option in schema.get("anyOf", []) for s in integer_schemas(option)]


@pytest.mark.parametrize("service", ["intake", "sharing", "audit"])
def test_every_integer_parameter_has_bounds_the_stores_can_hold(
    services: Services, service: str
) -> None:
    document = services.apps[service].openapi()
    unbounded = [
        f"{method.upper()} {path} {parameter['name']}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for parameter in operation.get("parameters", [])
        for schema in integer_schemas(parameter["schema"])
        if not ("minimum" in schema and 0 <= schema.get("maximum", MAX_INTEGER + 1) <= MAX_INTEGER)
    ]
    assert unbounded == []


def test_a_cursor_beyond_64_bits_is_a_dutch_422_not_a_500(services: Services) -> None:
    client = services.client("sharing")
    auth = services.partner_auth["sharing"]
    refused = client.get("/v1/disclosures", params={"cursor": str(TOO_BIG)}, headers=auth)
    assert refused.status_code == 422, refused.text
    assert refused.json() == {
        "type": "about:blank",
        "title": "Verzoek ongeldig",
        "status": 422,
        "detail": "Verzoek ongeldig",
        "errors": [{"path": "query.cursor", "message": f"mag hoogstens {MAX_INTEGER} zijn"}],
    }
    negative = client.get("/v1/disclosures", params={"cursor": "-1"}, headers=auth)
    assert negative.status_code == 422
    largest = client.get("/v1/disclosures", params={"cursor": str(MAX_INTEGER)}, headers=auth)
    assert largest.json() == {"items": [], "next_cursor": MAX_INTEGER}


@pytest.mark.parametrize("body", [DEEP, nested(MAX_JSON_DEPTH + 1)], ids=["100000", "limit+1"])
def test_a_deeply_nested_melding_is_a_dutch_422_not_a_500(services: Services, body: str) -> None:
    answer = services.client("intake").post(
        "/v1/meldingen",
        content=body,
        headers={
            **services.partner_auth["intake"],
            "Idempotency-Key": "diep-1",
            "Content-Type": "application/json",
        },
    )
    assert (answer.status_code, answer.json()["detail"]) == (422, TOO_DEEP)


def test_nesting_up_to_the_limit_is_parsed_and_then_judged_as_a_melding(
    services: Services,
) -> None:
    answer = services.client("intake").post(
        "/v1/meldingen",
        content=nested(MAX_JSON_DEPTH),
        headers={**services.partner_auth["intake"], "Idempotency-Key": "diep-2"},
    )
    assert answer.status_code == 422
    assert answer.json()["detail"] == "Melding ongeldig"


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (DEEP, 413, too_large(SMALL_BODY_BYTES)),  # refused by size before it is parsed
        ('{"verdict": ' + DEEP, 413, too_large(SMALL_BODY_BYTES)),
        (nested(MAX_JSON_DEPTH + 1), 422, TOO_DEEP),
        ('{"verdict": ' + nested(MAX_JSON_DEPTH) + "}", 422, TOO_DEEP),
    ],
    ids=["100000", "100000-inside-a-field", "limit+1", "limit+1-inside-a-field"],
)
def test_a_deeply_nested_review_is_a_dutch_4xx_not_a_500(
    services: Services, body: str, status: int, detail: str
) -> None:
    answer = services.client("sharing").post(
        "/v1/reviews/d-1",
        content=body,
        headers={**services.worker_auth, "Content-Type": "application/json"},
    )
    assert (answer.status_code, answer.json()["detail"]) == (status, detail)
