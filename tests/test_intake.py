"""Intake against the real broker: what a partner gets back, and that bad input changes
nothing on Kafka."""

from __future__ import annotations

import asyncio
import copy
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc.jwk import OKPKey

from services.bus.kafka import ensure_topics
from services.common.dutch_dates import dutch_today, years_before
from services.common.models import Melding
from services.common.partner_auth import issue_access_token
from services.common.partners import PartnerRegistry, new_partner
from services.common.settings import Settings
from services.common.topics import MELDINGEN
from services.devstack.paths import free_port
from services.intake.app import create_app
from services.keyring import generate_all
from services.keyring.datakeys import DataKeyStore
from services.keyring.vault import Opener
from tests.stack import read_records, submission


def register_reporter(settings: Settings) -> dict[str, str]:
    """A registered reporting partner, and the Authorization header of its access token."""
    generate_all(settings.keys_dir)
    partner = new_partner(
        id="gemeente-almelo",
        name="Gemeente Almelo",
        kind="zorg_wijkteam",
        auth_key=OKPKey.generate_key("Ed25519").as_dict(private=False),
    )
    PartnerRegistry().with_partner(partner).save(settings.partners_file)
    token = issue_access_token(partner, "intake", settings.keys_dir)
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Intake:
    client: TestClient
    settings: Settings
    auth: dict[str, str]

    def post(self, body: Any = None, key: str | None = None, **kwargs: Any) -> Response:
        """POST a melding as the registered partner, with a fresh Idempotency-Key unless given."""
        headers = {**self.auth, "Idempotency-Key": key or str(uuid.uuid4())}
        return self.client.post("/v1/meldingen", json=body, headers=headers, **kwargs)


@contextmanager
def running_intake(settings: Settings) -> Iterator[Intake]:
    """Intake in process on the session's broker, once it reports healthy."""
    asyncio.run(ensure_topics(settings))
    auth = register_reporter(settings)
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 20
        while client.get("/health").status_code != 200:
            assert time.monotonic() < deadline, "intake kreeg geen verbinding met Kafka"
            time.sleep(0.1)
        yield Intake(client, settings, auth)


@pytest.fixture
def intake(settings_factory: Callable[..., Settings]) -> Iterator[Intake]:
    with running_intake(settings_factory()) as running:
        yield running


def test_accepted_melding_is_on_kafka_with_intake_fields(
    intake: Intake,
) -> None:
    response = intake.post(submission("02.json"))
    assert response.status_code == 202, response.text
    melding_id = response.json()["melding_id"]
    (record,) = read_records(intake.settings, MELDINGEN)
    event = json.loads(record.value)
    assert record.key == melding_id.encode()
    assert event["specversion"] == "1.0"
    assert event["type"] == "nl.kmt.melding.received"
    assert event["subject"] == melding_id
    assert event["data"]["melding_id"] == melding_id
    assert event["data"]["facts"]["reporter"]["partner_id"] == "gemeente-almelo"
    assert event["data"]["received_at"]
    # the melding itself only sealed, and signed by intake
    sent = submission("02.json")
    assert sent["victim"]["name"] not in record.value.decode()
    assert dict(record.headers)["kmt-signer"] == b"intake"
    store = DataKeyStore.of(intake.settings)
    try:
        opener = Opener.load(intake.settings.keys_dir, "sharing", store)
        opened = Melding.model_validate_json(opener.open(melding_id, event["data"]["sealed"]))
    finally:
        store.close()
    assert opened.reporter.partner_id == "gemeente-almelo"
    assert opened.victim.name == sent["victim"]["name"]


def test_retry_with_idempotency_key_returns_same_id_and_publishes_nothing_new(
    intake: Intake,
) -> None:
    first = intake.post(submission("02.json"), key="poging-1")
    second = intake.post(submission("02.json"), key="poging-1")
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert len(read_records(intake.settings, MELDINGEN)) == 1
    other = intake.post(submission("03.json"), key="poging-1")
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["detail"]
    without_key = intake.client.post(
        "/v1/meldingen", json=submission("02.json"), headers=intake.auth
    )
    assert without_key.status_code == 428
    assert "Idempotency-Key" in without_key.json()["detail"]
    assert len(read_records(intake.settings, MELDINGEN)) == 1


@pytest.mark.parametrize(
    ("mutate", "paths"),
    [
        (lambda m: m.pop("municipality"), ["municipality"]),
        (lambda m: m.update(municipality="parijs"), ["municipality"]),
        (lambda m: m.update(exploitation_forms=[]), ["exploitation_forms"]),
        (lambda m: m["victim"].update(bsn="123456789"), ["victim.bsn"]),
        (lambda m: m.update(received_at="2026-01-01T00:00:00Z"), ["received_at"]),
        (lambda m: m.update(melding_id="x"), ["melding_id"]),
        (lambda m: m["victim"].update(pseudonym="abc"), ["victim.pseudonym"]),
        (lambda m: m["reporter"].update(partner_id="vals"), ["reporter"]),
        (lambda m: m["signals"].update(acute_danger="misschien"), ["signals.acute_danger"]),
        (
            lambda m: m.update(
                provenance=[{"source": "politie", "regime": "WPG", "fields": ["victim.schoenmaat"]}]
            ),
            ["provenance.0.fields"],
        ),
    ],
)
def test_invalid_melding_gets_422_naming_the_paths_and_nothing_reaches_kafka(
    intake: Intake, mutate: Callable[[dict[str, Any]], Any], paths: list[str]
) -> None:
    body = copy.deepcopy(submission("02.json"))
    mutate(body)
    response = intake.post(body)
    assert response.status_code == 422
    assert sorted(e["path"] for e in response.json()["errors"]) == paths
    assert "Sanne" not in response.text  # never echoes personal input
    assert read_records(intake.settings, MELDINGEN, quiet_ms=500) == []


def test_birth_dates_are_checked_against_today_in_the_netherlands(intake: Intake) -> None:
    """Intake assigns received_at, so a birth date is refused when it lies after today's
    date in Europe/Amsterdam, or more than 120 years before it (issue 9 item 1)."""
    today = dutch_today()
    refused = [
        (("victim",), today + timedelta(days=1), "geboortedatum ligt na de datum van de melding"),
        (
            ("suspects", 0),
            years_before(today, 121),
            "geboortedatum ligt meer dan 120 jaar voor de datum van de melding",
        ),
    ]
    for where, birth_date, message in refused:
        body = copy.deepcopy(submission("02.json"))
        target = body[where[0]] if len(where) == 1 else body[where[0]][where[1]]
        target["birth_date"] = birth_date.isoformat()
        response = intake.post(body)
        assert response.status_code == 422, response.text
        path = ".".join(str(part) for part in (*where, "birth_date"))
        assert response.json()["errors"] == [{"path": path, "message": message}]
        assert birth_date.isoformat() not in response.text
    assert read_records(intake.settings, MELDINGEN, quiet_ms=500) == []

    for birth_date in (years_before(today, 119), today):
        body = copy.deepcopy(submission("02.json"))
        body["victim"]["birth_date"] = body["suspects"][0]["birth_date"] = birth_date.isoformat()
        response = intake.post(body)
        assert response.status_code == 202, response.text
    assert len(read_records(intake.settings, MELDINGEN)) == 2


def test_birth_dates_are_checked_on_the_very_moment_intake_stamps(
    settings_factory: Callable[..., Settings],
) -> None:
    """Birth dates are checked against the Dutch date of the received_at intake assigns,
    not a second clock reading: with the clock fixed (a test deployment), a birth date after
    that day gets a clear 422, never a 500 from the melding built afterwards; the 120th
    birthday on that very day is accepted."""
    settings = settings_factory(reference_time="2026-03-01T23:30:00Z")  # 00:30 on 2 March NL
    with running_intake(settings) as intake:

        def post(birth_date: str) -> Response:
            body = copy.deepcopy(submission("02.json"))
            body["victim"]["birth_date"] = birth_date
            return intake.post(body)

        later = post("2026-03-03")
        assert later.status_code == 422, later.text
        assert later.json()["errors"] == [
            {
                "path": "victim.birth_date",
                "message": "geboortedatum ligt na de datum van de melding",
            }
        ]
        for accepted in ("1906-03-02", "2026-03-02"):
            assert post(accepted).status_code == 202
        assert post("1906-03-01").status_code == 422


def test_not_json_and_too_large_are_refused(intake: Intake) -> None:
    client, settings = intake.client, intake.settings
    not_json = intake.post(content=b"{kapot")
    assert not_json.status_code == 422
    big = submission("02.json")
    big["signals"]["narrative"] = "x" * (settings.max_body_bytes + 1)
    too_large = intake.post(big)
    assert too_large.status_code == 413
    missing_partner = client.post("/v1/meldingen", json=submission("02.json"))
    assert missing_partner.status_code == 401
    forged = client.post(
        "/v1/meldingen",
        json=submission("02.json"),
        headers={"Authorization": "Bearer eyJhbGciOiJub25lIn0.e30."},
    )
    assert forged.status_code == 401
    assert read_records(settings, MELDINGEN, quiet_ms=500) == []


def test_broker_down_gives_503_not_a_silent_loss(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(kafka_bootstrap=f"127.0.0.1:{free_port()}")
    auth = register_reporter(settings)
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 503
        response = Intake(client, settings, auth).post(submission("02.json"))
        assert response.status_code == 503
        assert response.headers["Retry-After"]
        assert "Probeer het later opnieuw" in response.json()["detail"]


SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
JSON = st.recursive(
    SCALARS | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def mutations() -> st.SearchStrategy[dict[str, Any]]:
    """A valid melding with one field, at any depth, replaced by arbitrary JSON."""
    base = submission("07.json")

    def replace(path: list[str], value: Any) -> dict[str, Any]:
        body = copy.deepcopy(base)
        target = body
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return body

    paths = [[k] for k in base] + [[k, sub] for k, v in base.items() if isinstance(v, dict)
                                   for sub in v]  # fmt: skip
    return st.builds(replace, st.sampled_from(paths), JSON)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(body=JSON | mutations())
def test_no_body_ever_gets_a_500(intake: Intake, body: Any) -> None:
    response = intake.post(body)
    assert response.status_code in (202, 413, 422), response.text
    if response.status_code == 422:
        assert response.json().get("errors") or response.json()["detail"]


def test_api_documentation_can_be_switched_off(settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory(api_docs=False)  # as in the production shape
    generate_all(settings.keys_dir)
    with TestClient(create_app(settings)) as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 404, path
