"""One melding, one trace; metrics and readiness on every service; its LDV records (issue 14).

A real OpenTelemetry Collector (`.cache/bin/kmt-otelcol`: the collector's OTLP receiver and
file exporter, built by provision.sh) receives the services' spans and the LDV records over
OTLP/HTTP and writes what it received to a file, which the tests read.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from services.common.settings import Settings
from services.console.app import create_app as console_app
from services.devstack.paths import REPO, free_port
from services.devstack.process import stop
from services.devstack.services import environment, start_service
from services.observability import ldv
from tests.stack import Stack, deployment, eventually

pytestmark = pytest.mark.integration
COLLECTOR = REPO / ".cache" / "bin" / "kmt-otelcol"
TRACE_ID = uuid.uuid4().hex
PARTNER_SPAN = uuid.uuid4().hex[:16]
TRACEPARENT = f"00-{TRACE_ID}-{PARTNER_SPAN}-01"
SECOND_SUSPECT = {
    "name": "K. Jansen",
    "birth_date": "1990-03-03",
    "role": "dader",
    "relation_to_victim": "onbekend",
    "description": "regelt de woningen",
}


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The collector on a free loopback port; its OTLP/HTTP traces URL and output file."""
    home = tmp_path_factory.mktemp("otelcol")
    port, received = free_port(), home / "received.jsonl"
    config = home / "config.yaml"
    config.write_text(
        "receivers:\n  otlp:\n    protocols:\n      http:\n"
        f"        endpoint: 127.0.0.1:{port}\n"
        f"exporters:\n  file:\n    path: {received}\n"
        "service:\n  telemetry:\n    metrics:\n      level: none\n"
        "  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [file]\n"
    )
    log = (home / "collector.log").open("wb")
    process = subprocess.Popen(
        [str(COLLECTOR), "--config", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}/v1/traces"
    eventually(lambda: _answers(url), timeout=30)
    try:
        yield url, received
    finally:
        process.terminate()
        process.wait(timeout=20)


def _answers(url: str) -> bool:
    try:
        return (
            httpx.request("GET" if url.endswith("/health") else "POST", url, timeout=2).status_code
            < 500
        )
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def stack(
    collector: tuple[str, Path],
    settings_factory: Callable[..., Settings],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    settings = settings_factory(
        otlp_traces_endpoint=collector[0], ready_retry_seconds=3.0, alerts_port=free_port()
    )
    with deployment(settings, tmp_path_factory.mktemp("logs")) as running:
        yield running


def spans(received: Path) -> list[dict[str, Any]]:
    """Every span the collector wrote, with its resource's `service.name`."""
    found = []
    for line in received.read_text().splitlines() if received.exists() else []:
        try:
            written = json.loads(line)
        except json.JSONDecodeError:  # the collector is still writing this line
            continue
        for resource in written["resourceSpans"]:
            attributes = {a["key"]: a["value"] for a in resource["resource"]["attributes"]}
            service = attributes["service.name"]["stringValue"]
            for scope in resource["scopeSpans"]:
                found += [
                    {**span, "service": service, "scope_name": scope["scope"]["name"]}
                    for span in scope["spans"]
                ]
    return found


def submit_with_traceparent(stack: Stack, melding: dict[str, Any]) -> str:
    intake = stack.url("intake")
    token = stack.client("wijkteam-almelo").token(intake)
    reply = httpx.post(
        f"{intake}/v1/meldingen",
        json=melding,
        headers={
            "Authorization": f"Bearer {token}",
            "Idempotency-Key": str(uuid.uuid4()),
            "traceparent": TRACEPARENT,
        },
        timeout=20,
    )
    assert reply.status_code == 202, reply.text
    return str(reply.json()["melding_id"])


@pytest.fixture(scope="module")
def melding(stack: Stack) -> tuple[str, list[dict[str, Any]]]:
    """A melding with a victim and two suspects, sent with the partner's `traceparent`,
    released to the RIEC, fetched and acknowledged: its id and full trail."""
    body = json.loads((REPO / "examples" / "melding.json").read_text())
    body["suspects"].append(SECOND_SUSPECT)
    melding_id = submit_with_traceparent(stack, body)
    riec = stack.client("riec-oost")
    ref = stack.melding_ref(melding_id, "riec-oost")
    item = eventually(
        lambda: next((i for i in stack.fetch_all("riec-oost") if i["melding_ref"] == ref), None),
        timeout=90,
    )
    riec.ack(item["disclosure_id"])
    trail = eventually(
        lambda: (e := stack.audit_entries(melding_id)) and any(x["type"] == "ack" for x in e) and e,
        timeout=60,
    )
    return melding_id, trail


def test_the_partners_trace_id_is_on_every_ledger_entry_of_the_melding(
    melding: tuple[str, list[dict[str, Any]]],
) -> None:
    _, trail = melding
    by_type = {e["type"]: e for e in trail}
    assert {"melding", "decision", "disclosure", "release", "ack"} <= by_type.keys()
    # what the partner sent is kept on the melding's own entry (LDV's foreign_operation)
    assert by_type["melding"]["trace_id"] == TRACEPARENT
    for entry in trail:
        if entry["type"] == "audit_access":  # an officer's read: a trace of its own
            assert re.fullmatch("[0-9a-f]{32}", entry["trace_id"]) and entry["trace_id"] != TRACE_ID
        elif entry["type"] != "melding":
            assert entry["trace_id"] == TRACE_ID, entry["type"]


def test_every_service_exports_its_spans_of_the_melding_in_that_trace(
    melding: tuple[str, list[dict[str, Any]]], collector: tuple[str, Path]
) -> None:
    def services_in_trace() -> set[str] | None:
        ours = [s for s in spans(collector[1]) if s["traceId"] == TRACE_ID]
        found = {s["service"] for s in ours}
        wanted = {"kmt-intake", "kmt-routing", "kmt-sharing", "kmt-audit"}
        fetched = "sharing partner fetch" in {s["name"] for s in ours}
        return found if wanted <= found and fetched else None

    eventually(services_in_trace, timeout=60)
    ours = [s for s in spans(collector[1]) if s["traceId"] == TRACE_ID]
    intake = [s for s in ours if s["service"] == "kmt-intake"]
    assert any(s.get("parentSpanId") == PARTNER_SPAN for s in intake)  # the partner's call
    assert "sharing partner fetch" in {s["name"] for s in ours}  # the RIEC's fetch


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def test_metrics_and_readiness_on_every_service(
    stack: Stack, melding: tuple[str, list[dict[str, Any]]]
) -> None:
    melding_id, _ = melding
    stack.start("alerts")
    bases = {s: stack.url(s) for s in ("intake", "routing", "sharing", "audit")}
    bases["alerts"] = f"http://127.0.0.1:{stack.settings.alerts_port}"
    eventually(lambda: _answers(f"{bases['alerts']}/health"), timeout=30)
    texts = {}
    for service, base in bases.items():
        assert httpx.get(f"{base}/health", timeout=10).status_code == 200
        ready = httpx.get(f"{base}/ready", timeout=10)
        assert ready.status_code == 200, (service, ready.text)
        assert set(ready.json()["checks"].values()) == {"ok"}
        texts[service] = httpx.get(f"{base}/metrics", timeout=10).text
    with TestClient(console_app(stack.settings)) as console:  # the web console, in process
        assert console.get("/ready").json() == {
            "status": "gereed",
            "checks": {"audit": "ok", "sharing": "ok", "herhalingen": "ok"},
        }
        assert "kmt_http_requests_total" in console.get("/metrics").text
    audit = texts["audit"]
    assert re.search(r'kmt_decisions_total\{.*recipient="riec".*\} 1\.0', audit)
    assert 'kmt_disclosures_total{recipient="riec",step="released"} 1.0' in audit
    assert 'kmt_disclosures_total{recipient="riec",step="acknowledged"} 1.0' in audit
    assert "kmt_ledger_checkpoint_age_seconds" in audit
    assert 'method="POST",route="/v1/meldingen",service="intake",status="202"' in texts["intake"]
    assert "kmt_consumer_lag{" in texts["sharing"] and "kmt_consumer_lag{" in texts["routing"]
    # no label holds a melding's id, any other UUID, or anything of the melding's people
    everything = "\n".join(texts.values())
    labels = " ".join(re.findall(r"\{([^}]*)\}", everything))
    assert melding_id not in everything and not UUID.search(labels)
    for personal in ("Sanne", "Vries", "111222333", "Bakker", "Jansen", "Grotestraat"):
        assert personal not in everything


def test_ldv_records_one_per_subject_per_step_delivered_to_the_collector(
    stack: Stack,
    melding: tuple[str, list[dict[str, Any]]],
    collector: tuple[str, Path],
    tmp_path: Path,
) -> None:
    _, trail = melding
    output = tmp_path / "ldv.jsonl"
    command = ["audit", "ldv-export", str(output), "--otlp", collector[0]]
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", *command],
        cwd=REPO,
        env=environment(stack.settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert all(ldv.problems(r) == [] for r in records)
    ours = [r for r in records if r["trace_id"] == TRACE_ID]
    logged = ("melding", "decision", "disclosure", "release", "ack")
    steps = {e["event_id"] for e in trail if e["type"] in logged}
    per_subject = [r for r in ours if "dpl.core.data_subject_id" in r["attributes"]]
    kinds = sorted(r["attributes"]["dpl.core.data_subject_id_type"] for r in per_subject)
    kinds = [kind.split(":")[-2] for kind in kinds]
    # seven steps (melding, 3 decisions, the RIEC's disclosure, release, ack), each with all
    # three subjects: one victim and two suspects
    assert len(steps) == 7 and len(per_subject) == 7 * 3
    assert kinds == ["slachtoffer"] * 7 + ["verdachte"] * 14
    assert len({r["attributes"]["dpl.core.data_subject_id"] for r in per_subject}) == 3
    first = next(r for r in ours if r["name"] == "melding" and "parent_span_id" not in r)
    assert first["foreign_operation"] == {
        "trace_id": TRACE_ID,
        "span_id": PARTNER_SPAN,
        "entity": "urn:nl:kmt-twente:partner:wijkteam-almelo",
    }
    activities = {r["attributes"]["dpl.core.processing_activity_id"] for r in ours}
    assert activities == {
        "urn:nl:kmt-twente:verwerkingsregister:ontvangen-melding:v1",
        "urn:nl:kmt-twente:verwerkingsregister:besluiten-per-ontvanger:v1",
        "urn:nl:kmt-twente:verwerkingsregister:verstrekken-riec:v1",
    }

    def delivered() -> bool:
        ids = {s["spanId"] for s in spans(collector[1]) if s["scope_name"] == "kmt-ldv"}
        return {r["span_id"] for r in records} <= ids

    eventually(delivered, timeout=30)


def test_a_record_stuck_in_retry_turns_ready_red(stack: Stack, tmp_path: Path) -> None:
    """Routing without its policy engine retries the melding without end: after
    `ready_retry_seconds` its /ready is red, naming the retry, and metrics count it."""
    stack.stop("routing")
    blind = stack.settings.model_copy(update={"opa_url": f"http://127.0.0.1:{free_port()}"})
    process = start_service("routing", blind, tmp_path / "routing.log")
    try:
        stack.submit(json.loads((REPO / "examples" / "melding.json").read_text()))
        base = stack.url("routing")

        def red() -> dict[str, Any] | None:
            try:
                answer = httpx.get(f"{base}/ready", timeout=5)
            except httpx.TransportError:
                return None
            return answer.json() if answer.status_code == 503 else None

        def retried() -> dict[str, Any] | None:
            body = red()
            return body if body and "herhaling" in body["checks"]["herhalingen"] else None

        body = eventually(retried, timeout=90)
        assert body["status"] == "niet gereed"
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
        assert 'kmt_records_retrying{consumer="routing"} 1.0' in metrics
        assert httpx.get(f"{base}/health", timeout=5).status_code == 200  # alive all the same
    finally:
        stop(process)
