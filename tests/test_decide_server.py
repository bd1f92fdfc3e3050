"""The async engine against a real OPA server started here: same decisions as the one-shot
engine, the scenarios' expected decisions from what OPA is sent (facts only, no identities),
the bundle's revision, masked decision logs, and PolicyUnavailable (never allow) when OPA
is away or has no policy."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import typer
from opa_client.opa_async import AsyncOpaClient
from typer.testing import CliRunner

from services.common.models import RECIPIENTS, Melding
from services.devstack.opa import start_opa
from services.devstack.paths import free_port
from services.devstack.process import stop
from services.policy.engine import (
    POLICIES,
    OneShotEngine,
    PolicyEngine,
    PolicyUnavailable,
    decide_all,
    find_opa_binary,
    policy_revision,
)
from services.routing.decide import decide_command
from tests.conftest import Infra
from tests.test_decide_cli import check_expectations
from tests.test_facts import assert_no_identifying_values, marker_melding

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.json"))
PERSONAL = ("Sanne de Vries", "111222333", "Grotestraat", "prostitutie", "R. Bakker")


@pytest.fixture(scope="module")
def server(infra: Infra) -> tuple[str, Path]:
    """The session's OPA, serving policies/ as a bundle with decision logs on."""
    return infra.opa_url, infra.root / "opa" / "opa.log"


def melding(scenario: Path) -> Melding:
    data: dict[str, Any] = json.loads(scenario.read_text(encoding="utf-8"))["melding"]
    return Melding.model_validate({"melding_id": str(uuid4()), **data})


async def test_async_engine_agrees_with_one_shot_engine(
    server: tuple[str, Path],
) -> None:
    binary = find_opa_binary()
    assert binary is not None
    served, one_shot = PolicyEngine(server[0]), OneShotEngine(POLICIES, binary)
    try:
        for scenario in SCENARIOS:
            case = melding(scenario)
            remote, local = await decide_all(served, case), await decide_all(one_shot, case)
            assert remote == local
            assert [d.recipient for d in remote] == list(RECIPIENTS)
            assert all(d.policy_revision == policy_revision(POLICIES) for d in remote)
    finally:
        await served.close()
        await one_shot.close()


async def test_served_scenarios_decide_as_expected_from_facts_alone(
    server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[dict[str, Any]] = []
    query = AsyncOpaClient.query_rule

    async def spy(self: AsyncOpaClient, input_data: dict[str, Any], **kwargs: Any) -> Any:
        sent.append(input_data)
        return await query(self, input_data=input_data, **kwargs)

    monkeypatch.setattr(AsyncOpaClient, "query_rule", spy)
    engine = PolicyEngine(server[0])
    try:
        for scenario in SCENARIOS:
            case = melding(scenario)
            check_expectations(
                await decide_all(engine, case),
                json.loads(scenario.read_text(encoding="utf-8"))["expect"],
            )
            assert_no_identifying_values(sent[-1], case)
        marked = marker_melding()
        decisions = await decide_all(engine, marked)
        assert [d.allow for d in decisions] == [True, False, True]
        assert_no_identifying_values(sent[-1], marked)
    finally:
        await engine.close()
    assert len(sent) == len(SCENARIOS) + 1  # one question per melding for all three
    assert all(payload["recipients"] == list(RECIPIENTS) for payload in sent)


def test_kmt_decide_via_server_logs_no_personal_data(server: tuple[str, Path]) -> None:
    url, log = server
    text = json.loads(SCENARIOS[6].read_text(encoding="utf-8"))["melding"]
    app = typer.Typer()
    app.command("decide")(decide_command)
    app.callback()(lambda: None)
    result = CliRunner().invoke(
        app, ["decide", "-"], input=json.dumps(text), env={"KMT_OPA_URL": url}
    )
    assert result.exit_code == 0, result.stderr
    assert [d["allow"] for d in json.loads(result.stdout)] == [True, False, True]
    time.sleep(0.5)  # console decision logs are written asynchronously
    content = log.read_text(errors="replace")
    assert content.count('"decision_id"') >= 1  # one question for all three recipients
    assert "/input/melding/victim" in content  # OPA lists what system.log.mask erased
    assert not any(value in content for value in PERSONAL)


async def test_nothing_listening_is_policy_unavailable() -> None:
    engine = PolicyEngine(f"http://127.0.0.1:{free_port()}", timeout=1.0, retries=0)
    try:
        with pytest.raises(PolicyUnavailable):
            await engine.decide(melding(SCENARIOS[1]), "riec")
    finally:
        await engine.close()


async def test_server_without_policies_is_policy_unavailable(tmp_path: Path) -> None:
    port = free_port()
    process = start_opa(tmp_path / "opa", port, policies=None)  # no version active yet
    engine = PolicyEngine(f"http://127.0.0.1:{port}", retries=0)
    try:
        with pytest.raises(PolicyUnavailable, match="undefined"):
            await engine.decide(melding(SCENARIOS[1]), "riec")
    finally:
        await engine.close()
        stop(process)
