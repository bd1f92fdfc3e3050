"""Activation reaches every routing instance through the bus (issue 11 §3): `kmt policy
activate` announces the switch as a signed `policy.switched` event on its own topic, and
from then on routing records no decision of another revision, with no restart. A switch
signed with another service's key, or not signed, is refused.

One deployment of intake and two routing instances, with an OPA of its own that serves this
deployment's policy versions (polling its bundle server every second, as `kmt up` does)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.bus.principals import LIFECYCLE, SERVICES
from services.bus.signing import load_verifier
from services.common.events import POLICY_SWITCHED, new_event
from services.common.settings import Settings
from services.common.staff import add_member
from services.common.topics import DECISIONS, POLICY_SWITCHES
from services.devstack.opa import start_opa
from services.devstack.paths import free_port
from services.devstack.process import stop
from services.keyring import generate_all
from services.policy.engine import POLICIES, policy_revision
from services.policy.switches import Switches, follow, switched
from services.policy.versions import VersionStore
from tests.stack import Stack, deployment, eventually, read_events, send, submission
from tests.test_bus_security import _can_write
from tests.test_erasure import kmt
from tests.test_policy_dry_run import without_riec_suspects
from tests.test_policy_versions import candidate, edit_config

pytestmark = pytest.mark.integration
FORGED = "sha256:" + "f" * 16


@pytest.fixture(scope="module")
def switching(
    settings_factory: Callable[..., Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    settings = settings_factory()
    generate_all(settings.keys_dir)
    port = free_port()
    opa = start_opa(tmp_path_factory.mktemp("opa"), port, store=VersionStore.of(settings))
    try:
        settings = settings.model_copy(update={"opa_url": f"http://127.0.0.1:{port}"})
        with deployment(settings, tmp_path_factory.mktemp("logs"), "intake", "routing") as stack:
            stack.start_instance("routing")
            yield stack
    finally:
        stop(opa)


def followed(settings: Settings) -> str | None:
    """What a routing instance starting now takes as the version to decide with."""

    async def read() -> str | None:
        switches = Switches()
        task = asyncio.create_task(follow(settings, load_verifier(settings), switches))
        try:
            await asyncio.wait_for(switches.caught_up.wait(), 60)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return switches.required

    return asyncio.run(read())


def test_only_the_lifecycle_may_write_the_switches(switching: Stack) -> None:
    """The broker's ACLs: the `policy` principal writes the switches and nothing else; no
    service (routing included, which reads them) may write them."""
    settings = switching.settings
    assert asyncio.run(_can_write(settings, LIFECYCLE, POLICY_SWITCHES))
    assert not asyncio.run(_can_write(settings, LIFECYCLE, DECISIONS))
    for service in SERVICES:
        assert not asyncio.run(_can_write(settings, service, POLICY_SWITCHES)), service


def test_a_switch_not_signed_by_the_lifecycle_is_refused(switching: Stack) -> None:
    settings = switching.settings
    forged = new_event(
        type=POLICY_SWITCHED,
        source="kmt/policy",
        subject=FORGED,
        data=switched(FORGED, "0" * 64, "policy_activated", 1),
    )
    send(settings, POLICY_SWITCHES, forged, sign_as="routing")  # another service's key
    send(settings, POLICY_SWITCHES, forged)  # no signature at all
    assert followed(settings) != FORGED

    def refused_by_both() -> bool:
        logs = [(switching.logs / f"{name}.log").read_text() for name in ("routing", "routing-2")]
        return all(log.count("beleidswissel geweigerd") >= 2 for log in logs)

    eventually(refused_by_both, timeout=30)


def test_after_activate_both_routing_instances_decide_with_the_new_revision(
    switching: Stack, tmp_path: Path
) -> None:
    settings = switching.settings
    for member in ("alice", "bob"):
        add_member(member, "operator", settings.staff_file)
    directory = candidate(tmp_path, keep_tests=False)
    edit_config(directory, without_riec_suspects)
    steps = [
        ("policy", "propose", str(directory), "-m", "zonder verdachten", "--by", "alice"),
        ("policy", "dry-run", policy_revision(directory), "--by", "bob"),
        ("policy", "approve", policy_revision(directory), "--by", "bob"),
        ("policy", "activate", policy_revision(directory), "--by", "alice"),
    ]
    for step in steps:
        done = kmt(settings, *step)
        assert done.returncode == 0, (step, done.stderr)
    new = policy_revision(directory)
    assert new != policy_revision(POLICIES)
    assert followed(settings) == new
    # Sent at once: OPA may not have the new bundle yet, and routing waits for it. Twelve
    # meldingen over the meldingen topic's partitions, which the two instances share.
    sent = {switching.submit(submission(n)) for n in ("02.json", "03.json", "04.json") * 4}

    def decided() -> list[dict[str, object]] | None:
        found = [e["data"] for e in read_events(settings, DECISIONS)]
        found = [d for d in found if d["melding_id"] in sent]
        return found if len(found) == 3 * len(sent) else None

    decisions = eventually(decided, timeout=180, every=2)
    assert {d["melding_id"] for d in decisions} == sent
    assert {d["policy_revision"] for d in decisions} == {new}
