"""The async engine against a real OPA server started here: same decisions as the one-shot
engine, the bundle's revision, masked decision logs, and PolicyUnavailable (never allow)
when OPA is away or has no policy."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
import typer
from typer.testing import CliRunner

from services.common.models import RECIPIENTS, Melding
from services.routing.decide import POLICIES, decide_command, find_opa_binary
from services.routing.policy import (
    OneShotEngine,
    PolicyEngine,
    PolicyUnavailable,
    decide_all,
    write_bundle,
)

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.json"))
PERSONAL = ("Sanne de Vries", "111222333", "Grotestraat", "prostitutie", "R. Bakker")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_opa(*paths: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = find_opa_binary()
    assert binary is not None, "opa ontbreekt: make provision of zet KMT_OPA_BIN"
    port = free_port()
    process = subprocess.Popen(
        [binary, "run", "--server", "--addr", f"127.0.0.1:{port}", "--log-format", "json",
         "--set", "decision_logs.console=true", *map(str, paths)],
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.terminate()
    raise AssertionError("OPA kwam niet op")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("opa") / "bundle"
    return out, write_bundle(POLICIES, out)


@pytest.fixture(scope="module")
def server(
    bundle: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    log = tmp_path_factory.mktemp("opa-log") / "opa.log"
    process, url = start_opa(bundle[0], log=log)
    try:
        yield url, log
    finally:
        stop(process)


def melding(scenario: Path) -> Melding:
    data: dict[str, Any] = json.loads(scenario.read_text(encoding="utf-8"))["melding"]
    return Melding.model_validate({"melding_id": str(uuid4()), **data})


async def test_async_engine_agrees_with_one_shot_engine(
    server: tuple[str, Path], bundle: tuple[Path, str]
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
            assert all(d.policy_revision == bundle[1] for d in remote)
    finally:
        await served.close()
        await one_shot.close()


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
    assert content.count('"decision_id"') >= 3
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
    empty = tmp_path / "leeg"
    empty.mkdir()
    process, url = start_opa(empty, log=tmp_path / "opa.log")
    engine = PolicyEngine(url, retries=0)
    try:
        with pytest.raises(PolicyUnavailable, match="undefined"):
            await engine.decide(melding(SCENARIOS[1]), "riec")
    finally:
        await engine.close()
        stop(process)
