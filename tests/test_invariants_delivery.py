"""Invariants 2 and 3 under failure: an unreachable policy engine means no decision yet
(never "allow"), and restarts of the broker or of any service lose and double nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from services.common.events import SHARING_DECIDED
from services.common.settings import Settings
from services.common.topics import DECISIONS
from services.devstack import kafka, opa
from services.devstack.paths import free_port
from services.devstack.process import stop
from services.partner_client.client import PartnerClientError
from tests.stack import Stack, eventually, read_events, submission
from tests.test_end_to_end import complete_trail


def decisions_for(stack: Stack, melding_id: str) -> list[dict[str, object]]:
    return [
        e["data"]
        for e in read_events(stack.settings, DECISIONS)
        if e["type"] == SHARING_DECIDED and e["subject"] == melding_id
    ]


def test_unreachable_policy_engine_means_no_decision_yet_then_all_decisions(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    opa_port = free_port()
    stack = Stack(settings_factory(opa_url=f"http://127.0.0.1:{opa_port}"), tmp_path / "logs")
    stack.prepare()
    opa_process = None
    try:
        stack.start("intake", "routing")
        melding_id = stack.submit(submission("04.json"))
        with pytest.raises(AssertionError):  # routing retries; nothing may be decided
            eventually(lambda: decisions_for(stack, melding_id), timeout=8)
        opa_process = opa.start_opa(tmp_path / "opa", opa_port)
        decided = eventually(lambda: decisions_for(stack, melding_id), timeout=60)
        assert sorted(d["recipient"] for d in decided) == [  # type: ignore[type-var]
            "gemeente_veiligheid", "riec", "veilig_thuis",
        ]  # fmt: skip
    finally:
        stack.stop()
        if opa_process is not None:
            stop(opa_process)


def test_broker_and_service_restarts_lose_nothing_and_double_nothing(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    # Its own broker: this test restarts it, which must not disturb the rest of the session.
    port, controller = free_port(), free_port()
    settings = settings_factory(
        kafka_bootstrap=f"127.0.0.1:{port}", kafka_ca_file=tmp_path / "kafka" / "tls" / "ca.pem"
    )
    broker = kafka.start_kafka(tmp_path / "kafka", port, controller, settings.keys_dir)
    stack = Stack(settings, tmp_path / "logs")
    try:
        stack.prepare()
        stack.start()
        ids = [stack.submit(submission("02.json")) for _ in range(3)]

        token = stack.client("wijkteam-almelo").token(stack.url("intake"))
        stop(broker)  # the broker goes away mid-stream
        refused = httpx.post(
            f"{stack.url('intake')}/v1/meldingen",
            json=submission("02.json"),
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "tijdens-storing"},
            timeout=30,
        )
        assert refused.status_code == 503  # said plainly, not silently lost
        broker = kafka.start_kafka(tmp_path / "kafka", port, controller, settings.keys_dir)

        stack.kill("routing", "audit")  # and services die without a clean shutdown
        # The partner retries the refused melding with its key: the same melding, not a second
        # one, even though its first attempt may still have reached the broker.
        ids += [
            eventually(lambda k=key: _submit_when_ready(stack, k), timeout=60)
            for key in ("tijdens-storing", "na-herstel-1", "na-herstel-2")
        ]
        stack.start("routing", "audit")

        for melding_id in ids:
            trail = eventually(lambda m=melding_id: complete_trail(stack, m), timeout=120)
            assert len({e["event_id"] for e in trail}) == len(trail)
            assert [e["recipient"] for e in trail if e["type"] == "disclosure"] == ["riec"]
        riec = stack.client("riec-oost")
        items = eventually(lambda: len(riec.fetch(0).items) >= len(ids) and riec.fetch(0).items)
        refs = [stack.melding_ref(m, "riec-oost") for m in ids]
        assert sorted(i["melding_ref"] for i in items) == sorted(refs)
    finally:
        stack.stop()
        stop(broker)


def _submit_when_ready(stack: Stack, idempotency_key: str) -> str | None:
    """Intake answers 503 until its producer reconnected; a partner retries with its key."""
    try:
        return stack.submit(submission("02.json"), idempotency_key=idempotency_key)
    except PartnerClientError:
        return None
