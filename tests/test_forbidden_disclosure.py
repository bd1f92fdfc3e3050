"""Issue 9 item 5 on a running deployment: a typo in the policy data (`victim.bsn` among the
RIEC's fields) reaches routing and sharing alike, so sharing's second question agrees with
it; the allow-list from LEGAL.md still refuses to seal it. The decision goes to the
dead-letter topic with the reason and an `ALARM` line in sharing's log, the RIEC gets
nothing, and the stream goes on. Real Kafka and a real OPA serving the mistyped version."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from services.common.settings import Settings
from services.common.topics import DEAD_LETTER
from services.devstack.opa import start_opa
from services.devstack.paths import free_port
from services.devstack.process import stop
from services.policy.engine import POLICIES
from tests.stack import Stack, deployment, eventually, read_events, submission

pytestmark = pytest.mark.integration
BSN = "111222333"  # scenario 02's victim
REFUSAL = "victim.bsn niet toegestaan voor riec"


@pytest.fixture(scope="module")
def stack(
    settings_factory: Callable[..., Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("typo")
    policies = root / "policies"
    shutil.copytree(POLICIES, policies)
    config_file = policies / "kmt/config/data.json"
    config = json.loads(config_file.read_text())
    config["recipients"]["riec"]["fields"].append("victim.bsn")
    config_file.write_text(json.dumps(config))
    # The RIEC's own Rego test would refuse the version (`kmt policy build` runs opa test):
    # the typo gets through only with it gone, as with a test that misses it.
    (policies / "kmt/riec/riec_test.rego").unlink()
    port = free_port()
    opa = start_opa(root / "opa", port, policies=policies)
    try:
        settings = settings_factory(opa_url=f"http://127.0.0.1:{port}")
        with deployment(settings, root / "logs") as running:
            yield running
    finally:
        stop(opa)


def letters(stack: Stack) -> list[dict[str, Any]]:
    return [d["data"] for d in read_events(stack.settings, DEAD_LETTER)]


def test_a_policy_typo_is_a_dead_letter_and_an_alarm_not_a_bsn_at_the_riec(stack: Stack) -> None:
    stack.submit(submission("02.json"))  # RIEC yes (with the typo), the others no
    refused = eventually(lambda: [d for d in letters(stack) if REFUSAL in d["reason"]], 90)
    assert refused[0]["consumer"] == "sharing"
    assert BSN not in json.dumps(letters(stack))
    log = (stack.logs / "sharing.log").read_text(errors="replace")
    assert "ALARM dead-letter consumer=sharing" in log and "ALARM verboden-veld" in log
    assert BSN not in log

    # The stream goes on: a later melding for Veilig Thuis (a minor) is still delivered.
    stack.submit(submission("04.json"))
    eventually(lambda: stack.fetch_all("veilig-thuis-twente"), 120)
    assert stack.fetch_all("riec-oost") == []
