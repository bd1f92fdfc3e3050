"""The real OPA loads only policy versions signed by KMT's policy key (issue 11 §1): it
serves the active version with its id as every decision's `policy_revision`, takes a new
active version at its next poll without a restart, and keeps its bundle when a new one is
unsigned, tampered with or signed by another key. docker-compose.yml gives OPA the public
key only, and the OPA it runs fixes GHSA-g2pf-6v5v-qcc8."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from services.devstack.opa import start_opa
from services.devstack.paths import free_port
from services.devstack.process import stop
from services.policy.bundle_server import LONG_POLL_TYPE, BundleServer
from services.policy.bundle_signing import BUNDLE_RESOURCE, opa_bundle_args
from services.policy.candidate import contract_facts
from services.policy.engine import POLICIES, PolicyEngine, policy_revision
from services.policy.versions import VersionStore
from tests.stack import eventually
from tests.test_policy_versions import candidate, edit_config, new_store

# --- The real OPA: only signed bundles, the active one stays --------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, VersionStore, Path]]:
    root = tmp_path_factory.mktemp("versies")
    store = new_store(root)
    port = free_port()
    process = start_opa(root / "opa", port, store=store)
    try:
        yield f"http://127.0.0.1:{port}", store, root / "opa" / "opa.log"
    finally:
        stop(process)


async def revisions(url: str) -> set[str]:
    engine = PolicyEngine(url)
    try:
        return {
            d.policy_revision for facts in contract_facts() for d in await engine.decide_all(facts)
        }
    finally:
        await engine.close()


def smuggle(store: VersionStore, bundle: bytes, fake_id: str) -> None:
    """What someone with write access to the store could do: put any bundle there, with a
    manifest that matches it, and make it active. Only OPA's signature check is left."""
    hex_id = fake_id.removeprefix("sha256:")
    (store.root / f"{hex_id}.tar.gz").write_bytes(bundle)
    manifest = {
        "id": fake_id, "content_sha256": hex_id * 4,
        "bundle_sha256": hashlib.sha256(bundle).hexdigest(), "author": "indringer",
        "created_at": "2026-01-01T00:00:00+00:00", "message": "ongezien",
    }  # fmt: skip
    (store.root / f"{hex_id}.json").write_text(json.dumps(manifest))
    store.set_active(fake_id)


def rewritten(bundle: Path, change: Callable[[str, bytes], bytes]) -> bytes:
    """The bundle with each member's bytes passed through `change` (signatures kept)."""
    out = io.BytesIO()
    with tarfile.open(bundle) as source, tarfile.open(fileobj=out, mode="w:gz") as target:
        for member in source.getmembers():
            content = source.extractfile(member)
            data = change(member.name, content.read() if content else b"")
            member.size = len(data)
            target.addfile(member, io.BytesIO(data))
    return out.getvalue()


def unsigned(bundle: Path) -> bytes:
    out = io.BytesIO()
    with tarfile.open(bundle) as source, tarfile.open(fileobj=out, mode="w:gz") as target:
        for member in source.getmembers():
            if member.name.lstrip("/") != ".signatures.json":
                target.addfile(member, source.extractfile(member))
    return out.getvalue()


def refusals(log: Path) -> list[str]:
    """OPA's log lines on bundles it would not load."""
    lines = log.read_text(errors="replace").splitlines()
    return [line for line in lines if '"name":"kmt"' in line and '"level":"error"' in line]


async def test_opa_serves_the_active_version_as_policy_revision(
    served: tuple[str, VersionStore, Path],
) -> None:
    url, store, _ = served
    assert store.active() == policy_revision(POLICIES)
    assert await revisions(url) == {policy_revision(POLICIES)}
    status = httpx.get(f"{url}/v1/data/system/bundles/kmt/manifest/revision").json()
    assert status.get("result") in (None, policy_revision(POLICIES))


async def test_opa_refuses_unsigned_tampered_and_foreign_bundles_and_keeps_its_own(
    served: tuple[str, VersionStore, Path], tmp_path: Path
) -> None:
    url, store, log = served
    active = store.load(policy_revision(POLICIES))
    evil = "sha256:" + "e" * 16

    def to_evil(name: str, data: bytes) -> bytes:
        return data.replace(active.id.encode(), evil.encode()) if name == "/data.json" else data

    # A foreign key: the same policies, built and signed in another store with its own key.
    foreign = new_store(tmp_path, "andere")
    other = candidate(tmp_path)
    edit_config(other, lambda c: c.update(toelichting="een andere bouwer"))
    foreign_version = foreign.build(other, "indringer", "eigen sleutel")

    attempts = [
        ("zonder handtekening", unsigned(active.bundle), "missing .signatures.json"),
        ("gewijzigd na ondertekening", rewritten(active.bundle, to_evil), "digest mismatch"),
        ("met een andere sleutel", foreign_version.bundle.read_bytes(), "verify JWT signature"),
    ]
    for number, (what, bundle, reason) in enumerate(attempts, start=1):
        seen = len(refusals(log))
        smuggle(store, bundle, "sha256:" + f"{number}" * 16)
        found = eventually(lambda seen=seen: refusals(log)[seen:], timeout=20)  # type: ignore[misc]
        assert reason in found[0], (what, found)
        assert await revisions(url) == {active.id}, what

    # The polling works: a properly signed new version is taken at once, without restart.
    changed = candidate(tmp_path / "nieuw")
    edit_config(changed, lambda c: c.update(toelichting="tweede versie"))
    newer = store.build(changed, "operator-a", "tweede versie")
    store.set_active(newer.id)
    started = time.monotonic()
    eventually(lambda: newer.id in httpx.get(f"{url}/v1/data/kmt_meta").text, timeout=20)
    assert time.monotonic() - started < 10
    assert await revisions(url) == {newer.id}
    store.set_active(active.id)  # back, for whoever uses this OPA next
    eventually(lambda: active.id in httpx.get(f"{url}/v1/data/kmt_meta").text, timeout=20)


# --- The production shape ---------------------------------------------------------------


def test_compose_opa_loads_only_signed_bundles_and_holds_no_private_key() -> None:
    from tests.test_deployment import REPO, compose

    services = compose()["services"]
    opa_service = services["opa"]
    flags = opa_bundle_args(
        "http://policy-bundles:8182", Path("/run/opa/policy-bundle-key.pem"), poll_seconds=5
    )
    command = opa_service["command"]
    assert any(command[i : i + len(flags)] == flags for i in range(len(command)))
    assert "--bundle" not in command and "--skip-verify" not in command
    assert opa_service["volumes"] == [
        "./deploy/keys/public/policy-bundle-key.pem:/run/opa/policy-bundle-key.pem:ro"
    ]
    holders = [name for name, service in services.items()
               if any("keys/policy" in str(v) for v in service.get("volumes", []))]  # fmt: skip
    # the signing key: only where versions are built (the first one, then the operators')
    assert holders == ["policy-initial", "operator-api"]
    assert set(opa_service["networks"]) == {"policy", "bundles"}
    assert {n for n, s in services.items() if "bundles" in (s.get("networks") or [])} == {
        "opa",
        "policy-bundles",
    }
    pinned = (REPO / "provision/versions.env").read_text()
    version = pinned.split("OPA_VERSION=v", 1)[1].split()[0]
    # 1.21.3 fixes GHSA-g2pf-6v5v-qcc8 (bundle signature verification side-stepped).
    assert tuple(int(part) for part in version.split(".")) >= (1, 21, 3)
    assert f"openpolicyagent/opa:{version}-static" in (REPO / "Dockerfile").read_text()


async def test_opas_api_cannot_change_what_the_signed_version_decides(
    served: tuple[str, VersionStore, Path],
) -> None:
    """Routing and sharing reach OPA's REST API; none of them can slip in a policy or data
    beside the signed bundle, which owns every path."""
    url, store, _ = served
    attempts = [
        httpx.put(f"{url}/v1/policies/kwaad", content="package kmt.sharing\n\nx := true\n"),
        httpx.put(f"{url}/v1/policies/ander", content="package kwaad\n\nx := true\n"),
        httpx.put(f"{url}/v1/data/kmt_meta", json={"policy_revision": "sha256:" + "e" * 16}),
        httpx.patch(
            f"{url}/v1/data/kmt/config",
            json=[{"op": "add", "path": "/recipients/riec/fields/-", "value": "victim.bsn"}],
        ),
    ]
    for answer in attempts:
        assert answer.status_code == 400 and "owned by bundle" in answer.text, answer.text
    assert await revisions(url) == {store.active()}


def test_the_bundle_server_holds_a_long_poll_until_the_active_version_switches(
    tmp_path: Path,
) -> None:
    """OPA asks with the ETag it has and `Prefer: …wait=N`: the answer comes the moment the
    active version switches (an activation reaches OPA at once), else 304 after N s."""
    store = new_store(tmp_path)
    first = store.build(POLICIES, "operator-a", "eerste")
    other = candidate(tmp_path, keep_tests=False)
    edit_config(other, lambda data: data["recipients"]["riec"]["fields"].remove("suspects"))
    second = store.build(other, "operator-a", "tweede")
    store.set_active(first.id)
    server = BundleServer(store, ("127.0.0.1", 0))
    server.start()
    url = f"{server.url}/{BUNDLE_RESOURCE}"
    try:
        answer = httpx.get(url)
        assert answer.headers["content-type"] == LONG_POLL_TYPE  # OPA may long-poll
        held = {"If-None-Match": answer.headers["etag"], "Prefer": "modes=snapshot;wait=1"}
        assert httpx.get(url, headers=held, timeout=30).status_code == 304
        switch = threading.Timer(0.3, store.set_active, [second.id])
        switch.start()
        held["Prefer"] = "modes=snapshot;wait=30"
        answer = httpx.get(url, headers=held, timeout=60)
        switch.join()
        assert answer.status_code == 200  # within the wait, not at its end (that is 304)
        assert answer.headers["etag"] == f'"{second.bundle_sha256}"'
    finally:
        server.shutdown()
