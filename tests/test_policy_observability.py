"""Metrics and readiness of the two policy processes (issue 14): the operator API and the
bundle server answer `/metrics`, `/health` and `/ready` like every other service, left out
of the OpenAPI document, with their own counters and no id in a label."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from services.common.settings import Settings
from services.common.staff import issue_token
from services.devstack.paths import free_port
from services.policy.bundle_server import BundleServer
from services.policy.bundle_signing import BUNDLE_RESOURCE
from services.policy.engine import POLICIES
from services.policy.operator_api import create_app
from tests.test_policy_lifecycle import site  # noqa: F401  (fixture)
from tests.test_policy_versions import new_store

pytestmark = pytest.mark.integration
REVISION = re.compile(r"sha256:[0-9a-f]+")


def labels_of(text: str, metric: str) -> list[str]:
    return re.findall(rf"^{metric}\{{([^}}]*)\}}", text, re.MULTILINE)


def test_the_operator_api_is_ready_only_with_its_ledger_and_the_bus_and_counts_steps(
    site: Settings,  # noqa: F811
) -> None:
    with TestClient(create_app(site)) as api:
        assert api.get("/health").status_code == 200
        ready = api.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"ledger": "ok", "broker": "ok", "herhalingen": "ok"}
        alice = {"Authorization": f"Bearer {issue_token('alice')}"}
        assert api.post("/v1/policy/rollback", headers=alice).status_code == 409
        text = api.get("/metrics").text
        paths = api.get("/openapi.json").json()["paths"]
    assert 'kmt_policy_steps_total{outcome="refused",step="rollback"}' in text
    assert 'route="/v1/policy/rollback",service="operator-api",status="409"' in text
    assert not {"/metrics", "/ready"} & set(paths)
    steps = " ".join(labels_of(text, "kmt_policy_steps_total"))
    assert "alice" not in steps and not REVISION.search(steps)
    away = site.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    with TestClient(create_app(away)) as api:
        ready = api.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["broker"] == "niet gereed: broker"
    assert ready.json()["checks"]["ledger"] == "ok"


def test_the_bundle_server_is_ready_once_a_version_is_active_and_counts_requests(
    tmp_path: Path,
) -> None:
    store = new_store(tmp_path)
    server = BundleServer(store, ("127.0.0.1", 0))
    server.start()
    url = f"{server.url}/{BUNDLE_RESOURCE}"
    try:
        assert httpx.get(f"{server.url}/health").status_code == 200
        ready = httpx.get(f"{server.url}/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {
            "beleidsversie": "niet gereed: geen actieve beleidsversie"
        }
        assert httpx.get(url).status_code == 404
        store.set_active(store.build(POLICIES, "operator-a", "eerste").id)
        assert httpx.get(f"{server.url}/ready").status_code == 200
        etag = httpx.get(url).headers["etag"]
        held = {"If-None-Match": etag, "Prefer": "modes=snapshot;wait=1"}
        assert httpx.get(url, headers=held, timeout=30).status_code == 304
        text = httpx.get(f"{server.url}/metrics").text
    finally:
        server.shutdown()
    for status in ("200", "304", "404"):
        assert f'kmt_policy_bundle_requests_total{{status="{status}"}}' in text
    assert 'kmt_policy_bundle_long_polls_total{ended="expired"}' in text
    labels = " ".join(
        labels_of(text, "kmt_policy_bundle_requests_total")
        + labels_of(text, "kmt_policy_bundle_long_polls_total")
    )
    assert not REVISION.search(labels) and etag.strip('"') not in text
