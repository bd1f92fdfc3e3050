"""`bench/e2e.py` keeps working: a tiny run against a real deployment (no timed assertions),
and the rules by which it calls a melding decided and released."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.e2e import measure, parse, render
from bench.e2e_follow import Track
from bench.e2e_meldingen import variants
from bench.e2e_stack import deployed, target
from services.common.models import MeldingSubmission
from services.common.settings import Settings
from tests.postgres_server import fresh_database, provision_services
from tests.stack import Stack

TINY = ["-n", "5", "-c", "2", "--rate", "2", "--seconds", "2", "--raw-records", "100",
        "--poll-ms", "100", "--timeout", "120"]  # fmt: skip
"""A phase may take up to two minutes on a loaded machine (the suite runs two test files at
once, and a consumer group may rebalance); a melding not done by then fails the test."""


def test_bench_runs_end_to_end(stack: Stack) -> None:
    options = parse(TINY)
    result = asyncio.run(measure(target(stack.settings), options))
    assert result["deployment"] == {"instances": 1, "backend": "SQLite"}
    assert_complete(result, options)


def test_bench_runs_with_two_instances_per_service(
    settings_factory: Callable[..., Settings],
    postgres_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """`--instances 2`: ledger and state in PostgreSQL, every service twice, the load spread
    over both intakes, followed through one audit instance."""
    options = parse([*TINY, "--instances", "2"])
    assert options.postgres
    audit_url, env = provision_services(fresh_database(postgres_url))
    logs = tmp_path_factory.mktemp("logs")
    with deployed(settings_factory(audit_db_url=audit_url), logs, options.instances, env) as two:
        assert len(two.intake_urls) == 2
        result = asyncio.run(measure(two, options))
    assert result["deployment"] == {"instances": 2, "backend": "PostgreSQL"}
    assert_complete(result, options, logs)
    for intake in ("intake", "intake-2"):  # round robin: each took half of the 14 meldingen
        assert (logs / f"{intake}.log").read_text().count(" aangenomen van ") == 7


def assert_complete(result: dict[str, Any], options: Any, logs: Path | None = None) -> None:
    result["machine"] = {"cpus": 2, "cpu_model": "test", "python": "3"}
    burst, rate = result["phases"]["burst"], result["phases"]["rate"]
    why = (burst["stalled"], rate["stalled"], warnings(logs))
    assert (burst["sent"], burst["accepted"], burst["done"]) == (5, 5, 5), why
    assert (rate["sent"], rate["accepted"], rate["done"]) == (4, 4, 4), why
    for phase in (burst, rate):
        assert phase["latency"]["post_decided"]["n"] == phase["done"]
        assert phase["latency"]["post_recorded"]["n"] == phase["done"]
        if phase["with_disclosures"]:
            released = phase["latency"]["post_released"]
            assert released["n"] == phase["latency"]["post_disclosed"]["n"]
            assert released["n"] == phase["with_disclosures"]
        assert phase["disclosures_released"] == sum(phase["allowed_per_recipient"].values())
    assert result["raw"]["records"] == 100 and result["raw"]["value_bytes"] > 1000
    assert result["pipeline_per_raw"] > 0
    assert "Pipeline ÷ raw Kafka" in render(result, options)
    json.dumps(result)


def warnings(logs: Path | None) -> list[str]:
    """The services' warnings and errors, to say why a melding was not done in time."""
    if logs is None:
        return []
    return [
        f"{log.name}: {line[:300]}"
        for log in sorted(logs.glob("*.log"))
        for line in log.read_text(errors="replace").splitlines()
        if "WARNING" in line or "ERROR" in line
    ][-60:]


def test_released_only_when_every_disclosure_is() -> None:
    track = Track("burst", sent=0.0)
    entry = {"recorded_at": "2026-01-01T00:00:01.000000Z", "melding_id": "m"}
    assert track.stage() == "melding not recorded"
    track.add({**entry, "type": "melding"})
    track.add({**entry, "type": "decision", "recipient": "riec", "allow": True})
    track.add({**entry, "type": "decision", "recipient": "veilig_thuis", "allow": False})
    assert track.decided is None and not track.done  # two of three decisions
    assert track.stage() == "2 of 3 decisions recorded"
    track.add({**entry, "type": "decision", "recipient": "gemeente_veiligheid", "allow": True})
    assert track.decided is not None and not track.done  # no disclosure recorded yet
    track.add({**entry, "type": "disclosure", "disclosure_id": "d1"})
    track.add({**entry, "type": "release", "disclosure_id": "d1"})
    assert not track.done  # the gemeente's disclosure is not there yet
    track.add({**entry, "type": "disclosure", "disclosure_id": "d2"})
    later = {**entry, "recorded_at": "2026-01-01T00:00:03.000000Z"}
    track.add({**later, "type": "release", "disclosure_id": "d2"})
    assert track.done and track.released == track.finished == track.decided + 2


def test_variants_are_valid_and_never_wait_for_review() -> None:
    meldingen = variants(60)
    for melding in meldingen:
        submission = MeldingSubmission.model_validate(melding)
        assert submission.victim.birth_date is not None  # no unknown age: no review:human
    assert len({m["municipality"] for m in meldingen}) == 14
    assert any(m["signals"]["undermining_indicators"] for m in meldingen)
    assert any(m["signals"]["safety_risk"] for m in meldingen)
