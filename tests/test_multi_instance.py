"""Issue 10 part 3: every service runs as several instances.

Two instances each of intake, routing, sharing and audit, against one broker and one
PostgreSQL (the ledger and the state database, each service with its own writer role),
meldingen through both intakes, and one instance of each consumer service SIGKILLed
mid-stream. Nothing may be lost or doubled: every accepted melding decided for all three
recipients, each disclosure once and in the ledger, one ledger that verifies, and whichever
sharing instance a partner asks serves it everything released to it."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest
from joserfc.jwk import JWKRegistry

from services.audit.backends import open_ledger
from services.common.models import RECIPIENTS
from services.common.partner_auth import ASSERTION_TYPE, TOKEN_PATH, issuer_id
from services.common.partners import PartnerRegistry
from services.common.settings import Settings
from services.partner_client.client import client_assertion
from tests.postgres_server import fresh_database, provision_services
from tests.stack import Stack, eventually, submission

pytestmark = pytest.mark.integration
MELDINGEN = 40
SCENARIOS = ("02.json", "03.json", "04.json", "05.json")
CONSUMERS = ("routing", "sharing", "audit")
REPORTER = "wijkteam-almelo"


@pytest.fixture(scope="module")
def stack(
    settings_factory: Callable[..., Settings],
    tmp_path_factory: pytest.TempPathFactory,
    postgres_url: str,
) -> Iterator[Stack]:
    owner = fresh_database(postgres_url)
    audit_url, env = provision_services(owner)
    running = Stack(settings_factory(audit_db_url=audit_url), tmp_path_factory.mktemp("logs"))
    running.env = env
    running.instances["owner"] = running.settings.model_copy(update={"state_db_url": owner})
    running.prepare()
    try:
        running.start()
        for service in ("intake", *CONSUMERS):
            running.start_instance(service)
        yield running
    finally:
        running.stop()


def token_answer(stack: Stack, intake: str, assertion: str) -> int:
    response = httpx.post(
        stack.url(intake) + TOKEN_PATH,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
        timeout=10,
    )
    return response.status_code


def test_an_assertion_used_at_one_intake_is_refused_at_the_other(stack: Stack) -> None:
    key = JWKRegistry.import_key(
        json.loads((stack.partner_keys(REPORTER) / "auth.jwk.json").read_text())
    )
    # Made for intake as such (`urn:kmt:intake`), so either instance would take it once.
    used = client_assertion(REPORTER, key, issuer_id("intake"))  # type: ignore[arg-type]
    assert token_answer(stack, "intake", used) == 200
    assert token_answer(stack, "intake-2", used) == 401  # replayed at the other instance
    fresh = client_assertion(REPORTER, key, issuer_id("intake"))  # type: ignore[arg-type]
    assert token_answer(stack, "intake-2", fresh) == 200


def test_one_idempotency_key_is_one_melding_through_either_intake(stack: Stack) -> None:
    for n in range(5):
        key = f"beide-intakes-{n}"
        with ThreadPoolExecutor(2) as pool:
            ids = list(
                pool.map(
                    lambda intake, k=key: stack.submit(
                        submission("02.json"), idempotency_key=k, intake=intake
                    ),
                    ("intake", "intake-2"),
                )
            )
        assert ids[0] == ids[1]


def expected_disclosures(registry: PartnerRegistry, decisions: list[dict[str, Any]]) -> int:
    return sum(
        len(registry.recipient_partners(d["recipient"], d["municipality"]))
        for d in decisions
        if d["allow"]
    )


def test_killing_one_instance_of_each_consumer_mid_stream_loses_and_doubles_nothing(
    stack: Stack,
) -> None:
    accepted: list[str] = []
    half = threading.Event()

    def send() -> None:
        for n in range(MELDINGEN):
            intake = ("intake", "intake-2")[n % 2]
            melding = submission(SCENARIOS[n % len(SCENARIOS)])
            accepted.append(stack.submit(melding, intake=intake))
            if len(accepted) == MELDINGEN // 3:
                half.set()

    with ThreadPoolExecutor(1) as pool:
        sending = pool.submit(send)
        assert half.wait(60)
        stack.kill(*CONSUMERS)  # the first instance of each consumer service dies mid-stream
        sending.result(timeout=120)
    assert len(set(accepted)) == MELDINGEN

    registry = PartnerRegistry.load(stack.settings.partners_file)

    def complete(melding_id: str) -> list[dict[str, Any]] | None:
        entries = stack.audit_entries(melding_id, audit="audit-2")
        decisions = [e for e in entries if e["type"] == "decision"]
        disclosures = [e for e in entries if e["type"] == "disclosure"]
        releases = [e for e in entries if e["type"] == "release"]
        wanted = expected_disclosures(registry, decisions)
        if len(decisions) >= len(RECIPIENTS) and len(releases) >= wanted <= len(disclosures):
            return entries
        return None

    ledger_disclosures: list[str] = []
    for melding_id in accepted:
        entries = eventually(lambda m=melding_id: complete(m), timeout=120)
        decisions = [e for e in entries if e["type"] == "decision"]
        assert sorted(d["recipient"] for d in decisions) == sorted(RECIPIENTS)
        disclosures = [e["disclosure_id"] for e in entries if e["type"] == "disclosure"]
        assert len(disclosures) == expected_disclosures(registry, decisions)
        released = [e["disclosure_id"] for e in entries if e["type"] == "release"]
        assert sorted(released) == sorted(disclosures)  # each released once, after its entry
        ledger_disclosures += disclosures
    assert ledger_disclosures, "geen enkele disclosure: de test bewijst dan niets"
    duplicates = [d for d, n in Counter(ledger_disclosures).items() if n > 1]
    assert duplicates == []

    # Sharing's own store: every disclosure it sealed has its ledger entry and receipt.
    owner_url = stack.instances["owner"].state_db_url
    with psycopg.connect(owner_url) as db:
        stored = db.execute(
            "SELECT disclosure_id, melding_id, audit_seq, released_at FROM disclosures"
        ).fetchall()
    ours = [d for d, melding_id, _, _ in stored if melding_id in set(accepted)]
    assert sorted(ours) == sorted(ledger_disclosures)
    assert all(seq is not None and released for _, _, seq, released in stored)

    ledger = open_ledger(stack.settings)
    try:
        assert ledger.verify().ok  # one hash chain, whichever audit instance appended
    finally:
        ledger.close()

    # The dead instances come back; then either sharing instance serves each partner all.
    stack.start(*CONSUMERS)
    partners = [p.id for p in registry.partners if p.encryption_key is not None]
    served_anywhere: list[str] = []
    for partner in partners:
        views = [
            [item["disclosure_id"] for item in stack.fetch_all(partner, sharing)]
            for sharing in ("sharing", "sharing-2")
        ]
        assert views[0] == views[1], partner  # the same disclosures, in the same order
        assert len(set(views[0])) == len(views[0]), partner
        served_anywhere += views[0]
    # everything sealed in this deployment (the other tests' meldingen too), each once
    assert sorted(served_anywhere) == sorted(d for d, _, _, _ in stored)
