"""A broken policy value does not block a partition forever (issue 9 item 6).

Policy data that would fail on every melding (an unreadable retention duration, a recipient
without purpose or basis) is refused when the policy is loaded: by `opa test` (a Rego test
that every configured value parses) and by `write_bundle`, which every way of serving the
policies goes through. A record that still fails for another reason is retried for
`retry_give_up_seconds`, then set aside as a dead letter with the reason and an `ALARM
dead-letter` log line, and the stream goes on; an outage (OPA unreachable) is waited out.

The consumer loop is pure logic here: its publisher records what it would send and its
verifier accepts every record (signatures are tested in test_forgeries.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from services.bus.consumer import Record, handle_reliably, is_outage
from services.common.events import CloudEvent, MalformedEvent
from services.common.settings import Settings
from services.common.topics import DEAD_LETTER
from services.policy.engine import (
    POLICIES,
    OneShotEngine,
    PolicyContractBroken,
    PolicyDataInvalid,
    PolicyUnreachable,
    find_opa_binary,
    write_bundle,
)

GIVE_UP = 0.4
RECORD = Record("t.kmt.meldingen.v1", 2, 41, b"melding-1", b"{}")


class RecordingPublisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, CloudEvent]] = []

    async def publish(self, topic: str, event: CloudEvent) -> None:
        self.sent.append((topic, event))


class AcceptingVerifier:
    def verify(self, *_: Any) -> str:
        return "routing"


class Failing:
    """A handler that raises `errors` in turn (the last one for ever), or succeeds when
    `errors` runs out; counts its calls."""

    def __init__(self, *errors: Exception, until: float | None = None) -> None:
        self.errors = list(errors)
        self.calls = 0
        self.until = until
        self.started: float | None = None

    async def __call__(self, record: Record) -> None:
        self.calls += 1
        now = asyncio.get_running_loop().time()
        self.started = self.started or now
        if self.until is not None and now - self.started >= self.until:
            return
        raise self.errors[min(self.calls, len(self.errors)) - 1]


def settings() -> Settings:
    return Settings(topic_prefix="t.", retry_max_seconds=0.05, retry_give_up_seconds=GIVE_UP)


def handle(handler: Failing) -> RecordingPublisher:
    publisher = RecordingPublisher()
    run = handle_reliably(
        RECORD,
        handler,
        publisher,  # type: ignore[arg-type]
        settings(),
        "routing",
        AcceptingVerifier(),  # type: ignore[arg-type]
    )
    asyncio.run(asyncio.wait_for(run, timeout=30))
    return publisher


def dead_letters(publisher: RecordingPublisher) -> list[dict[str, Any]]:
    return [e.data for topic, e in publisher.sent if topic == f"t.{DEAD_LETTER}"]


def test_a_record_that_keeps_failing_is_set_aside_with_reason_and_alarm(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = Failing(PolicyContractBroken("beleid brak het besluitcontract voor riec: ..."))
    with caplog.at_level(logging.WARNING):
        publisher = handle(handler)  # returns: the partition goes on
    (letter,) = dead_letters(publisher)
    assert (letter["topic"], letter["partition"], letter["offset"]) == (RECORD.topic, 2, 41)
    assert letter["consumer"] == "routing" and letter["key"] == "melding-1"
    assert letter["reason"].startswith("opgegeven na ")
    assert letter["reason"].endswith(": PolicyContractBroken")
    assert handler.calls > 1  # retried first
    alarms = [r for r in caplog.records if r.getMessage().startswith("ALARM dead-letter")]
    assert len(alarms) == 1 and alarms[0].levelno == logging.ERROR
    assert (
        "offset=41" in alarms[0].getMessage() and "PolicyContractBroken" in alarms[0].getMessage()
    )


def test_an_unreadable_value_that_raises_anything_else_is_bounded_too() -> None:
    (letter,) = dead_letters(handle(Failing(ValueError("ongeldige ISO 8601-duur: 'P2J'"))))
    assert letter["reason"].endswith(": ValueError")
    assert "P2J" not in letter["reason"]  # messages may quote data: the type only


def test_an_outage_is_waited_out_however_long_it_lasts() -> None:
    handler = Failing(PolicyUnreachable("OPA niet bereikbaar"), until=GIVE_UP * 3)
    assert dead_letters(handle(handler)) == []
    assert handler.calls > 3


def test_an_outage_does_not_count_towards_giving_up() -> None:
    # Poisoned briefly, then an outage longer than the bound, then poisoned again: only the
    # time failing for the record's own sake counts, so it is still retried afterwards.
    errors = [PolicyContractBroken("x")] * 2 + [ConnectionRefusedError()] * 12
    handler = Failing(*errors, PolicyContractBroken("x"))
    publisher = handle(handler)
    assert len(dead_letters(publisher)) == 1
    assert handler.calls > len(errors) + 1


def test_a_malformed_record_is_set_aside_at_once_with_an_alarm(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = Failing(MalformedEvent("onverwacht eventtype 'x'"))
    with caplog.at_level(logging.ERROR):
        (letter,) = dead_letters(handle(handler))
    assert handler.calls == 1 and letter["reason"] == "onverwacht eventtype 'x'"
    assert "ALARM dead-letter consumer=routing" in caplog.text


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (PolicyUnreachable("x"), True),
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (PolicyContractBroken("x"), False),
        (ValueError("x"), False),
        (KeyError("x"), False),
    ],
)
def test_what_counts_as_an_outage(error: Exception, outage: bool) -> None:
    assert is_outage(error) is outage


def test_database_and_broker_unavailability_are_outages() -> None:
    import sqlite3

    from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, MessageSizeTooLargeError

    assert is_outage(sqlite3.OperationalError("database is locked"))
    assert is_outage(KafkaConnectionError()) and is_outage(KafkaTimeoutError())
    assert not is_outage(MessageSizeTooLargeError())


# Refused when the policy is loaded.


def broken_policies(tmp_path: Path, **recipient_riec: Any) -> Path:
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    path = policies / "kmt/config/data.json"
    config = json.loads(path.read_text())
    config["recipients"]["riec"].update(recipient_riec)
    path.write_text(json.dumps(config))
    return policies


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"retention": "P2J"}, "recipients.riec.retention"),
        ({"retention": "2 jaar"}, "recipients.riec.retention"),
        ({"retention": 2}, "recipients.riec.retention"),
        ({"purpose": " "}, "recipients.riec.purpose"),
        ({"legal_basis": []}, "recipients.riec.legal_basis"),
    ],
)
def test_a_broken_policy_value_is_refused_when_the_bundle_is_built(
    tmp_path: Path, change: dict[str, Any], named: str
) -> None:
    policies = broken_policies(tmp_path, **change)
    with pytest.raises(PolicyDataInvalid, match=named):
        write_bundle(policies, tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()
    binary = find_opa_binary()
    assert binary is not None
    with pytest.raises(PolicyDataInvalid):
        OneShotEngine(policies, binary)


def test_opa_test_fails_on_an_unreadable_retention(tmp_path: Path) -> None:
    binary = find_opa_binary()
    assert binary is not None, "opa ontbreekt: make provision of zet KMT_OPA_BIN"
    policies = broken_policies(tmp_path, retention="P2J")
    result = subprocess.run(
        [binary, "test", "--format", "json", str(policies)], capture_output=True, text=True
    )
    assert result.returncode != 0
    failed = {o["name"] for o in json.loads(result.stdout) if o.get("fail")}
    assert "test_every_retention_is_a_readable_duration" in failed
    clean = subprocess.run([binary, "test", str(POLICIES)], capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout
