"""Consumers take records in batches and commit once per batch (issue 10 part 2): audit
records a batch in one ledger transaction, sharing makes a batch's changes in one outbox
transaction, routing handles several meldingen at once. These tests try to break that: a
record in the middle of a batch that is malformed or forged, a batch handler that fails
half-way, and SIGKILLs of routing, sharing and audit while they work through a backlog,
which must lose nothing and double nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.audit.backends import open_ledger
from services.audit.main import build_app
from services.bus.consumer import Handling, Record, handle_batch
from services.bus.kafka import ensure_topics
from services.common import topics
from services.common.events import MalformedEvent
from services.common.settings import Settings
from services.common.staff import add_member
from services.keyring import generate_all
from tests.stack import Stack, eventually, read_records, send, submission
from tests.test_audit_recorder import events, melding
from tests.test_audit_worker import vault_of
from tests.test_end_to_end import complete_trail
from tests.test_poison_records import AcceptingVerifier, RecordingPublisher, dead_letters

# The consumer's batch path, as pure logic.


def records(*values: bytes) -> list[Record]:
    return [Record("t.kmt.decisions.v1", 0, i, b"m", v) for i, v in enumerate(values)]


class Handled:
    """One-record handler that refuses `b"bad"`, and a batch handler that does all or
    nothing (and here: nothing, when the batch holds a bad one)."""

    def __init__(self) -> None:
        self.one: list[int] = []
        self.batches: list[list[int]] = []

    async def handle(self, record: Record) -> None:
        if record.value == b"bad":
            raise MalformedEvent("geen geldige JSON")
        self.one.append(record.offset)

    async def batch(self, batch: Sequence[Record]) -> None:
        if any(r.value == b"bad" for r in batch):
            raise MalformedEvent("geen geldige JSON")  # before anything is written
        self.batches.append([r.offset for r in batch])


def run_batch(batch: list[Record], handled: Handled) -> RecordingPublisher:
    publisher = RecordingPublisher()
    settings = Settings(topic_prefix="t.", retry_max_seconds=0.05, retry_give_up_seconds=0.4)
    work = handle_batch(
        batch,
        Handling(handled.handle, handled.batch),
        publisher,  # type: ignore[arg-type]
        settings,
        "audit",
        AcceptingVerifier(),  # type: ignore[arg-type]
    )
    asyncio.run(asyncio.wait_for(work, timeout=30))
    return publisher


def test_a_whole_batch_goes_to_the_batch_handler_at_once() -> None:
    handled = Handled()
    assert dead_letters(run_batch(records(b"a", b"b", b"c"), handled)) == []
    assert handled.batches == [[0, 1, 2]] and handled.one == []


def test_a_malformed_record_mid_batch_is_dead_lettered_and_the_rest_handled() -> None:
    handled = Handled()
    publisher = run_batch(records(b"a", b"b", b"bad", b"d", b"e"), handled)
    assert [d["offset"] for d in dead_letters(publisher)] == [2]
    assert handled.one == [0, 1, 3, 4]  # each on its own, in order, once
    assert handled.batches == []


def test_a_forged_record_mid_batch_never_reaches_the_batch_handler() -> None:
    class Refusing(AcceptingVerifier):
        def verify(self, topic: str, key: Any, value: Any, headers: Any) -> str:
            if value == b"forged":
                raise MalformedEvent("niet ondertekend: geen kmt-signer/kmt-signature")
            return "routing"

    handled = Handled()
    publisher = RecordingPublisher()
    work = handle_batch(
        records(b"a", b"forged", b"c"),
        Handling(handled.handle, handled.batch),
        publisher,  # type: ignore[arg-type]
        Settings(topic_prefix="t."),
        "audit",
        Refusing(),  # type: ignore[arg-type]
    )
    asyncio.run(asyncio.wait_for(work, timeout=30))
    assert [d["offset"] for d in dead_letters(publisher)] == [1]
    assert handled.batches == [[0, 2]]


# Audit against the real broker: a backlog read as one batch.


@pytest.mark.integration
def test_audit_records_a_backlog_with_a_poisoned_record_in_its_middle(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory()
    generate_all(settings.keys_dir)
    asyncio.run(ensure_topics(settings))
    m = melding()  # one melding: every record has its key, so they share one partition
    decided = [events(m, vault_of(settings))[1] for _ in range(8)]
    poison = (str(m.melding_id).encode(), b"{geen json")
    # while audit is down: four decisions, a bad one, four more, and one twice (redelivered)
    send(settings, topics.DECISIONS, *decided[:4], poison, *decided[4:], decided[5],
         sign_as="routing")  # fmt: skip
    with TestClient(build_app(settings)) as client:
        dead = [json.loads(r.value) for r in read_records(settings, topics.DEAD_LETTER, 1)]
        receipts = [json.loads(r.value) for r in read_records(settings, topics.AUDIT_RECEIPTS, 9)]
        assert [d["data"]["offset"] for d in dead] == [4]
        assert sorted({r["data"]["event_id"] for r in receipts}) == sorted(e.id for e in decided)
        token = add_member("fg", "privacy_officer", settings.staff_file)
        listed = client.get(
            f"/v1/audit/meldingen/{m.melding_id}", headers={"Authorization": f"Bearer {token}"}
        ).json()["entries"]
        recorded = [e["event_id"] for e in listed if e["type"] == "decision"]
        assert sorted(recorded) == sorted(e.id for e in decided)  # once each, redelivery too
    ledger = open_ledger(settings)
    try:
        assert ledger.verify().ok  # the hash chain runs on through the batch
    finally:
        ledger.close()


# The whole pipeline: SIGKILLs while sharing and audit work through a backlog.


@pytest.mark.integration
def test_kills_in_the_middle_of_batches_lose_nothing_and_double_nothing(stack: Stack) -> None:
    consumers = ("routing", "sharing", "audit")  # routing: several meldingen at once
    stack.stop(*consumers)
    names = ["02.json", "04.json", "06.json"]
    ids = [stack.submit(submission(names[i % len(names)])) for i in range(24)]
    for _ in range(2):
        stack.start(*consumers)
        # as soon as the first of the backlog is in the ledger, all three die mid-way
        eventually(lambda: stack.audit_entries(ids[0]), timeout=120, every=0.1)
        stack.kill(*consumers)
    stack.start(*consumers)
    disclosed: dict[str, list[str]] = {}
    for melding_id in ids:
        trail = eventually(lambda m=melding_id: released_trail(stack, m), timeout=180)
        assert len({e["event_id"] for e in trail}) == len(trail)  # no entry twice
        disclosures = [e for e in trail if e["type"] == "disclosure"]
        allowed = [e for e in trail if e["type"] == "decision" and e["allow"]]
        assert len({e["recipient"] for e in disclosures}) == len(allowed)
        assert len({e["disclosure_id"] for e in disclosures}) == len(disclosures)
        for entry in disclosures:
            disclosed.setdefault(entry["recipient"], []).append(melding_id)
    partners = {"riec": "riec-oost", "veilig_thuis": "veilig-thuis-twente"}
    assert set(disclosed) >= set(partners)
    for recipient, partner in partners.items():
        meldingen = disclosed[recipient]
        refs = [i["melding_ref"] for i in stack.fetch_all(partner)]
        assert len(refs) == len(set(refs))  # no disclosure served twice
        assert {stack.melding_ref(m, partner) for m in meldingen} <= set(refs)  # none lost


def released_trail(stack: Stack, melding_id: str) -> list[dict[str, Any]] | None:
    """The melding's ledger entries once it is decided and every disclosure released."""
    trail = complete_trail(stack, melding_id)
    if trail is None:
        return None
    entries = [e for e in trail if e["type"] != "audit_access"]
    disclosures = {e["disclosure_id"] for e in entries if e["type"] == "disclosure"}
    released = {e["disclosure_id"] for e in entries if e["type"] == "release"}
    return entries if disclosures <= released else None
