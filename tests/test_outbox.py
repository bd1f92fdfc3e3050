"""The sharing outbox's rules that need no broker: what a partner may be served, and that a
change and the event announcing it are committed together and published in order."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from cryptography.exceptions import InvalidTag

from services.bus.relay import Relay, relaying
from services.common.events import CloudEvent, new_event
from services.common.models import DisclosureLifecycle
from services.sharing.outbox import Outbox, StoredDisclosure
from services.state.database import Database

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def stored(disclosure_id: str, partner: str, expires_at: datetime | None) -> StoredDisclosure:
    return StoredDisclosure(
        seq=0, disclosure_id=disclosure_id, melding_id="m", recipient="riec", partner_id=partner,
        event={"data": {"jwe": "x"}}, created_at=NOW.isoformat(),
        expires_at=expires_at.isoformat() if expires_at else None, needs_review=False,
        audit_seq=None, review=None, released_at=None, acked_at=None,
    )  # fmt: skip


def test_only_released_unexpired_own_disclosures_are_served(tmp_path: Path) -> None:
    outbox = Outbox(Database.on_sqlite(tmp_path / "sharing.db"), os.urandom(32))
    outbox.keep_decision("d1", "m", "riec", "{}")
    outbox.finish_decision(
        "d1",
        "m",
        [
            stored("verloopt", "riec-oost", NOW + timedelta(days=1)),
            stored("blijft", "riec-oost", None),
            stored("niet-vrijgegeven", "riec-oost", None),
            stored("van-een-ander", "ander", None),
        ],
        recipients=3,
    )
    for disclosure_id in ("verloopt", "blijft", "van-een-ander"):
        outbox.release(disclosure_id, NOW)

    def served(at: datetime) -> list[str]:
        return [d.disclosure_id for d in outbox.released_for("riec-oost", 0, at, 50)]

    assert served(NOW) == ["verloopt", "blijft"]
    assert served(NOW + timedelta(days=2)) == ["blijft"]  # expired: no longer served
    first, *_ = outbox.released_for("riec-oost", 0, NOW, 50)
    assert first.release_seq is not None
    after_first = outbox.released_for("riec-oost", first.release_seq, NOW, 50)
    assert [d.disclosure_id for d in after_first] == ["blijft"]  # the cursor moves on


def test_a_disclosure_released_late_is_not_skipped_by_the_cursor(tmp_path: Path) -> None:
    outbox = Outbox(Database.on_sqlite(tmp_path / "sharing.db"), os.urandom(32))
    outbox.keep_decision("d1", "m", "riec", "{}")
    made = [stored(name, "riec-oost", None) for name in ("eerst-gemaakt", "later-gemaakt")]
    outbox.finish_decision("d1", "m", made, recipients=3)
    outbox.release("later-gemaakt", NOW)  # its receipt came first
    (seen,) = outbox.released_for("riec-oost", 0, NOW, 50)
    cursor = seen.release_seq
    assert cursor is not None
    outbox.release("eerst-gemaakt", NOW)  # e.g. approved after human review
    assert [d.disclosure_id for d in outbox.released_for("riec-oost", cursor, NOW, 50)] == [
        "eerst-gemaakt"
    ]


def test_the_melding_copy_is_encrypted_at_rest_and_bound_to_its_id(tmp_path: Path) -> None:
    outbox = Outbox(Database.on_sqlite(tmp_path / "sharing.db"), os.urandom(32))
    body = '{"victim": {"name": "Sanne de Vries"}}'
    assert outbox.keep_melding("m-1", body)
    assert outbox.melding("m-1") == body
    raw = sqlite3.connect(tmp_path / "sharing.db").execute("SELECT body FROM meldingen").fetchone()
    assert "Sanne" not in raw[0]
    # A row moved under another melding id does not decrypt.
    database = sqlite3.connect(tmp_path / "sharing.db")
    database.execute("INSERT INTO meldingen VALUES ('m-2', ?)", raw)
    database.commit()
    with pytest.raises(InvalidTag):
        outbox.melding("m-2")


# The transactional outbox (issue 9 item 7): a change and its event commit together -------


def lifecycle(action: str) -> CloudEvent:
    return new_event(
        type=f"nl.kmt.disclosure.{action}",
        source="kmt/sharing",
        subject="m",
        data=DisclosureLifecycle(
            disclosure_id=uuid.uuid5(uuid.NAMESPACE_URL, "d"),
            melding_id=uuid.UUID(int=1),
            recipient="riec",
            partner_id="riec-oost",
            action=action,
            actor="kmt/sharing",
            at=NOW,
        ),
        id=f"{action}-event",
    )


def one_disclosure(tmp_path: Path) -> Outbox:
    outbox = Outbox(Database.on_sqlite(tmp_path / "sharing.db"), os.urandom(32))
    outbox.keep_decision("d1", "m", "riec", "{}")
    outbox.finish_decision("d1", "m", [stored("d", "riec-oost", None)], recipients=3)
    return outbox


def test_a_change_and_its_event_commit_together_or_not_at_all(tmp_path: Path) -> None:
    outbox = one_disclosure(tmp_path)
    with pytest.raises(RuntimeError), outbox.transaction():
        assert outbox.release("d", NOW)
        outbox.enqueue("t.kmt.disclosures.v1", lifecycle("released"))
        raise RuntimeError("het proces sterft hier")
    assert outbox.pending(10) == [] and outbox.released_for("riec-oost", 0, NOW, 50) == []

    with outbox.transaction():  # a transaction inside another joins it
        assert outbox.release("d", NOW)
        outbox.enqueue("t.kmt.disclosures.v1", lifecycle("released"))
    assert not outbox.release("d", NOW)  # released once: a second release changes nothing
    (pending,) = outbox.pending(10)
    assert pending.topic == "t.kmt.disclosures.v1" and pending.event.id == "released-event"
    assert pending.event.data["action"] == "released"
    # Committed means durable: another process opening the store finds the event waiting.
    reopened = Outbox(Database.on_sqlite(tmp_path / "sharing.db"), os.urandom(32))
    assert [p.event.id for p in reopened.pending(10)] == ["released-event"]
    reopened.delivered(pending.position)
    assert outbox.pending(10) == []


def test_the_relay_is_woken_by_commits_with_events_only(tmp_path: Path) -> None:
    outbox = one_disclosure(tmp_path)
    woken: list[int] = []
    outbox.on_commit(lambda: woken.append(1))
    outbox.acknowledge("d", NOW)
    assert woken == []
    with outbox.transaction():
        outbox.enqueue("t", lifecycle("acknowledged"))
        assert woken == []  # not before the commit
    assert woken == [1]


class FlakyPublisher:
    """Refuses the first `failures` batches, as a broker that is gone would; with `partly`,
    the first event of a refused batch still goes out (acked before the broker went)."""

    def __init__(self, failures: int, partly: bool = False) -> None:
        self.failures = failures
        self.partly = partly
        self.sent: list[str] = []

    async def publish_many(self, events: list[tuple[str, CloudEvent]]) -> None:
        if self.failures:
            self.failures -= 1
            if self.partly:
                self.sent.append(events[0][1].id)
            raise KafkaConnectionError("broker weg")
        self.sent += [event.id for _, event in events]


async def test_the_relay_publishes_in_order_and_forgets_only_what_went_out(
    tmp_path: Path,
) -> None:
    outbox = one_disclosure(tmp_path)
    for action in ("released", "acknowledged"):
        outbox.enqueue("t", lifecycle(action))
    flaky = FlakyPublisher(failures=1)
    publisher: Any = flaky
    relay = Relay(outbox, publisher, retry_max_seconds=0.1)
    with pytest.raises(KafkaConnectionError):
        await relay.publish_pending()
    assert flaky.sent == [] and len(outbox.pending(10)) == 2  # nothing skipped, nothing lost
    # A restart: a new relay on the reopened store publishes what was waiting, in order.
    restarted = Relay(
        Outbox(Database.on_sqlite(tmp_path / "sharing.db"), os.urandom(32)), publisher, 0.1
    )
    assert await restarted.publish_pending() == 2
    assert flaky.sent == ["released-event", "acknowledged-event"]
    assert outbox.pending(10) == [] and await restarted.publish_pending() == 0


async def test_a_batch_acked_only_in_part_is_kept_whole_and_sent_again(
    tmp_path: Path,
) -> None:
    outbox = one_disclosure(tmp_path)
    for action in ("released", "acknowledged"):
        outbox.enqueue("t", lifecycle(action))
    flaky = FlakyPublisher(failures=1, partly=True)
    publisher: Any = flaky
    relay = Relay(outbox, publisher, retry_max_seconds=0.1)
    with pytest.raises(KafkaConnectionError):
        await relay.publish_pending()
    assert len(outbox.pending(10)) == 2  # the acked one is not forgotten on its own
    assert await relay.publish_pending() == 2
    # it went out twice, with one id: consumers dedupe it
    assert flaky.sent == ["released-event", "released-event", "acknowledged-event"]
    assert outbox.pending(10) == []


async def test_a_running_relay_retries_until_the_broker_takes_the_event(tmp_path: Path) -> None:
    outbox = one_disclosure(tmp_path)
    flaky = FlakyPublisher(failures=3)
    publisher: Any = flaky
    async with relaying(outbox, publisher, retry_max_seconds=0.1):
        outbox.enqueue("t", lifecycle("released"))
        for _ in range(100):
            if flaky.sent:
                break
            await asyncio.sleep(0.05)
    assert flaky.sent == ["released-event"] and outbox.pending(10) == []
