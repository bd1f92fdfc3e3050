"""The reference client proves each disclosure it opens is in the signed audit trail, on a
real deployment: the receipt's entry hash is the leaf, the checkpoint must carry a signature
by the key the partner pinned. What a lying audit service (or anyone between it and the
partner) could answer instead must fail: a wrong entry hash, another entry's proof, a
shortened proof, a checkpoint signed by another key, a whole forged tree signed by one."""

from __future__ import annotations

import base64
import json
import re
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner, Result

from services.audit.backends import open_ledger
from services.audit.checkpoint import ORIGIN, sign, verifier_key
from services.audit.merkle import Frontier, inclusion_path, node_id, range_hashes
from services.common.settings import Settings
from services.common.transparency import leaf_hash
from services.devstack import demo
from services.devstack.paths import REPO
from services.partner_client import cli as partner_cli
from services.partner_client.trail import TrailChecker
from tests.stack import Stack, deployment, eventually, submission
from tests.test_readme_commands import command_blocks

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:EdDSA is deprecated")]
PARTNER = "riec-oost"

Change = Callable[[dict[str, Any], httpx.Request], dict[str, Any]]


@pytest.fixture(scope="module")
def stack(
    settings_factory: Callable[..., Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Checkpoints only when the test signs one (as `kmt audit checkpoint` does), so a fresh
    disclosure is not covered until then."""
    settings = settings_factory(audit_checkpoint_entries=1000, audit_checkpoint_seconds=3600)
    with deployment(settings, tmp_path_factory.mktemp("logs")) as running:
        yield running


@pytest.fixture(scope="module")
def pinned(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The audit's verifier key, fetched once and kept, as a partner does out of band."""
    path = tmp_path_factory.mktemp("partner") / "kmt-audit.pub"
    path.write_text(httpx.get(f"{stack.url('audit')}/v1/audit/public-key").text)
    return path


def sign_checkpoint(stack: Stack) -> int:
    ledger = open_ledger(stack.settings)
    try:
        ledger.checkpoint()
        return ledger.checkpointed_size()
    finally:
        ledger.close()


def disclosed(stack: Stack) -> dict[str, Any]:
    """A new melding's disclosure to the RIEC, released (so it carries its receipt)."""
    melding_id = stack.submit(submission("02.json"))
    ref = stack.melding_ref(melding_id, PARTNER)
    return eventually(
        lambda: next((i for i in stack.fetch_all(PARTNER) if i["melding_ref"] == ref), None)
    )


def run(command: Callable[..., None], *args: str) -> Result:
    app = typer.Typer()
    app.command()(command)
    return CliRunner().invoke(app, list(args))


def fetch(stack: Stack, key: Path, *args: str) -> Result:
    home = demo.demo_dir(stack.settings)
    return run(
        partner_cli.fetch_command,
        "--partner-id", PARTNER,
        "--auth-key", str(home / PARTNER / "auth.jwk.json"),
        "--encryption-key", str(home / PARTNER / "encryption.jwk.json"),
        "--kmt-keys", str(home / "kmt-public.jwks.json"),
        "--base-url", stack.url("sharing"),
        "--audit-url", stack.url("audit"),
        "--audit-key", str(key),
        "--no-ack",
        *args,
    )  # fmt: skip


def line_about(result: Result, disclosure_id: str, in_readme: bool = True) -> str:
    """What fetch printed about one disclosure's receipt (a line the README shows too)."""
    line = next(line for line in result.stderr.splitlines() if disclosure_id in line)
    assert not in_readme or shown_in_readme(line), f"README's fetch shows no line like {line!r}"
    return line


def shown_in_readme(line: str) -> bool:
    """The README's fetch block shows this line, ids, hashes and numbers aside."""

    def shape(text: str) -> str:
        return re.sub(r"\d+", "N", re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}|[0-9a-f]{4}…", "ID", text))

    block = next(b for b in command_blocks((REPO / "README.md").read_text()) if "fetch" in b)
    shown = " ".join(b.lstrip("# ") for b in block.splitlines() if b.startswith("#"))
    return shape(line.split("controleer later met:")[0]) in shape(shown)


def test_a_disclosure_not_yet_under_a_checkpoint_is_checked_later(
    stack: Stack, pinned: Path, tmp_path: Path
) -> None:
    """Runs first: the deployment has no checkpoint at all yet (the proof answers 404), then
    one that does not reach the new entry (409). Neither fails the fetch; the printed
    `kmt partner prove` proves it once a checkpoint is signed."""
    assert httpx.get(f"{stack.url('audit')}/v1/audit/checkpoints/latest").status_code == 404
    first = disclosed(stack)
    result = fetch(stack, pinned, "--cursor-file", str(tmp_path / "cursor"))
    assert result.exit_code == 0, result.output
    assert first["disclosure_id"] in result.stdout  # opened and printed all the same
    assert "valt nog niet onder een checkpoint" in line_about(result, first["disclosure_id"])

    sign_checkpoint(stack)
    second = disclosed(stack)
    result = fetch(stack, pinned, "--cursor-file", str(tmp_path / "cursor"))
    assert result.exit_code == 0, result.output
    assert first["disclosure_id"] not in result.stdout  # the cursor moved on
    later = line_about(result, second["disclosure_id"])
    assert "valt nog niet onder een checkpoint; controleer later met: kmt partner prove" in later
    prove = shlex.split(later.split("controleer later met: ", 1)[1])[3:]
    assert run(partner_cli.prove_command, *prove).exit_code == 3  # still not checkable

    size = sign_checkpoint(stack)
    proven = run(partner_cli.prove_command, *prove)
    assert proven.exit_code == 0, proven.output
    assert f"seq {second['audit_seq']} onder ondertekend checkpoint {size}" in proven.stderr
    again = run(partner_cli.prove_command, *prove, "--tree-size", str(size))
    assert again.exit_code == 0, again.output


def test_fetch_proves_each_disclosure_and_fails_with_another_key_pinned(
    stack: Stack, pinned: Path, tmp_path: Path
) -> None:
    item = disclosed(stack)
    sign_checkpoint(stack)
    result = fetch(stack, pinned)
    assert result.exit_code == 0, result.output
    assert "in het grootboek: seq" in line_about(result, item["disclosure_id"])

    stranger = tmp_path / "other.pub"
    stranger.write_text(verifier_key(Ed25519PrivateKey.generate().public_key()))
    result = fetch(stack, stranger)
    assert result.exit_code == 1
    assert item["disclosure_id"] in result.stdout  # still opened and printed
    line = line_about(result, item["disclosure_id"], in_readme=False)
    assert "NIET geverifieerd in het grootboek" in line
    assert f"niet ondertekend door {ORIGIN}" in line


class Tampering(httpx.BaseTransport):
    """Between the partner and the real audit service (or a lying audit service itself):
    proof answers are rewritten by `change`, everything else passes."""

    def __init__(self, change: Change) -> None:
        self.inner = httpx.HTTPTransport()
        self.change = change

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if not request.url.path.endswith("/proof") or response.status_code != 200:
            return response
        response.read()
        return httpx.Response(200, json=self.change(json.loads(response.content), request))


def checker(stack: Stack, key: Path, change: Change | None = None) -> TrailChecker:
    http = httpx.Client(transport=Tampering(change)) if change else httpx.Client()
    return TrailChecker(stack.url("audit"), key.read_text().strip(), http=http)


@pytest.fixture(scope="module")
def covered(stack: Stack) -> dict[str, Any]:
    """A released disclosure whose entry, and the one before it, a checkpoint covers."""
    item = disclosed(stack)
    sign_checkpoint(stack)
    return item


def test_the_untouched_answer_verifies(stack: Stack, pinned: Path, covered: dict[str, Any]) -> None:
    found = checker(stack, pinned).check(covered)
    assert found.outcome == "verified", found.message


def test_a_wrong_entry_hash_is_not_proven(
    stack: Stack, pinned: Path, covered: dict[str, Any]
) -> None:
    wrong = covered["audit_entry_hash"][:-1] + (
        "0" if covered["audit_entry_hash"][-1] != "0" else "1"
    )
    for receipt in (
        covered | {"audit_entry_hash": wrong},
        covered | {"audit_seq": covered["audit_seq"] - 1},  # the hash, claimed at another place
        covered | {"audit_entry_hash": None},
    ):
        found = checker(stack, pinned).check(receipt)
        assert found.outcome == "failed", found.message


def test_another_entrys_proof_is_not_proven(
    stack: Stack, pinned: Path, covered: dict[str, Any]
) -> None:
    other = covered["audit_seq"] - 1

    def theirs(_: dict[str, Any], request: httpx.Request) -> dict[str, Any]:
        answer = httpx.get(f"{stack.url('audit')}/v1/audit/entries/{other}/proof")
        return dict(answer.json())  # a genuine proof, signed checkpoint and all

    found = checker(stack, pinned, theirs).check(covered)
    assert found.outcome == "failed"
    assert "andere entry-hash" in found.message


def test_a_shortened_proof_is_not_proven(
    stack: Stack, pinned: Path, covered: dict[str, Any]
) -> None:
    def shortened(body: dict[str, Any], _: httpx.Request) -> dict[str, Any]:
        assert len(body["proof"]) > 1
        return body | {"proof": body["proof"][:-1]}

    def garbled(body: dict[str, Any], _: httpx.Request) -> dict[str, Any]:
        return body | {"proof": [*body["proof"][:-1], "niet base64!"]}

    for change in (shortened, garbled):
        found = checker(stack, pinned, change).check(covered)
        assert found.outcome == "failed", found.message


def test_a_forged_tree_signed_by_another_key_is_not_proven(
    stack: Stack, pinned: Path, covered: dict[str, Any], tmp_path: Path
) -> None:
    """An attacker builds a tree that does hold the receipt, with a valid proof, and signs
    its checkpoint with its own key under KMT's log name. Only the pinned key stops it: a
    partner who took the key from the same server would accept it."""
    attacker = Ed25519PrivateKey.generate()
    seq = covered["audit_seq"]

    def forged(body: dict[str, Any], _: httpx.Request) -> dict[str, Any]:
        tree, nodes = Frontier(), {}
        for n in range(seq + 1):
            data = bytes.fromhex(covered["audit_entry_hash"]) if n == seq else bytes([n % 256])
            for start, size, digest in tree.append(leaf_hash(data)):
                nodes[node_id(start, size)] = digest
        proof = range_hashes(inclusion_path(seq, tree.size), nodes)
        note = sign(attacker, tree.size, tree.root()).note
        return body | {
            "checkpoint": {"size": tree.size, "root_hash": "", "note": note},
            "proof": [base64.b64encode(p).decode() for p in proof],
        }

    found = checker(stack, pinned, forged).check(covered)
    assert found.outcome == "failed"
    assert f"niet ondertekend door {ORIGIN}" in found.message
    theirs = tmp_path / "attacker.pub"
    theirs.write_text(verifier_key(attacker.public_key()))
    assert (
        checker(stack, theirs, forged).check(covered).outcome == "verified"
    )  # the forgery is sound


class Recording(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.statuses.append(response.status_code)
        return response


def test_a_partner_checking_many_at_once_is_slowed_down_not_failed(
    stack: Stack, pinned: Path, covered: dict[str, Any]
) -> None:
    """Past the public rate limit the audit answers 429 with `Retry-After`; the client waits
    that long and asks once more (the test retries until the 429 actually came first)."""
    for _ in range(5):
        for _ in range(stack.settings.public_rate_burst + 1):
            if httpx.get(f"{stack.url('audit')}/v1/audit/public-key").status_code == 429:
                break
        recording = Recording()
        found = TrailChecker(
            stack.url("audit"), pinned.read_text().strip(), http=httpx.Client(transport=recording)
        ).check(covered)
        assert found.outcome == "verified", found.message
        if recording.statuses[0] == 429:
            assert recording.statuses == [429, 200]
            return
    pytest.fail("de audit-service gaf geen 429")
