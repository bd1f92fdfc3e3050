"""Policy lifecycle steps one at a time (issue 11 §3): two operators' steps racing never
both pass a check only one may pass. On either ledger store: SQLite (a lock file in the
version store) and PostgreSQL (an advisory lock), through the entry points the CLI and the
operator API use (`Lifecycle.of`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from services.audit.backends import open_ledger
from services.common.settings import Settings
from services.policy.lifecycle import Lifecycle, NotAnnounced, Refused
from services.policy.step_lock import step_lock
from services.policy.versions import VersionStore
from tests.postgres_server import fresh_database
from tests.test_policy_dry_run import without_riec_suspects
from tests.test_policy_lifecycle import proposed, site  # noqa: F401  (fixture)


@pytest.fixture(params=["sqlite", "postgres"])
def deployment(
    request: pytest.FixtureRequest,
    site: Settings,  # noqa: F811
    configure: Callable[..., Settings],
) -> Settings:
    if request.param == "sqlite":
        return site
    return configure(audit_db_url=fresh_database(request.getfixturevalue("postgres_url")))


def step(settings: Settings, act: Callable[[Lifecycle], object]) -> str:
    ledger = open_ledger(settings)
    try:
        act(Lifecycle.of(settings, ledger))
        return "gedaan"
    except Refused as exc:
        return str(exc)
    finally:
        ledger.close()


def test_two_activations_at_once_activate_once(deployment: Settings, tmp_path: Path) -> None:
    directory = proposed(tmp_path, "a", without_riec_suspects)
    revision = ""

    def prepare(steps: Lifecycle) -> None:
        nonlocal revision
        revision = steps.propose(directory, "test", "alice").version.id
        steps.record_dry_run(revision, "0" * 64, "bob")
        steps.approve(revision, "bob")

    assert step(deployment, prepare) == "gedaan"
    start = threading.Barrier(2)

    def activate(by: str) -> str:
        def act(steps: Lifecycle) -> None:
            start.wait()
            steps.activate(revision, by)

        return step(deployment, act)

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(activate, ["alice", "bob"]))
    assert outcomes == sorted([f"{revision} is al actief", "gedaan"])
    ledger = open_ledger(deployment)
    try:
        steps = Lifecycle.of(deployment, ledger).steps()
        assert [s.type for s in steps].count("policy_activated") == 1
        assert ledger.verify().ok
    finally:
        ledger.close()
    assert VersionStore.of(deployment).active() == revision


def test_a_second_holder_waits_for_the_first(deployment: Settings) -> None:
    lock = step_lock(deployment.audit_db_url, VersionStore.of(deployment).root)
    second = threading.Event()

    def take() -> None:
        with lock():
            second.set()

    with lock():
        other = threading.Thread(target=take)
        other.start()
        assert not second.wait(1.0)  # held off while the first holds the lock
    assert second.wait(30)
    other.join()


def test_a_switch_the_bus_did_not_hear_is_finished_by_activating_again(
    site: Settings,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The step is recorded, but the store keeps serving the version before it until the
    announcement went out: no routing instance decides with a version it was not told of."""
    ledger = open_ledger(site)
    try:
        steps = Lifecycle.of(site, ledger)
        revision = steps.propose(proposed(tmp_path, "a", without_riec_suspects), "t", "alice")
        version = revision.version.id
        steps.record_dry_run(version, "0" * 64, "bob")
        steps.approve(version, "bob")
        heard = steps.announce
        steps.announce = lambda switch: (_ for _ in ()).throw(ConnectionError("bus weg"))
        with pytest.raises(NotAnnounced, match=f"kmt policy activate {version}"):
            steps.activate(version, "alice")
        assert steps.active() == version and VersionStore.of(site).active() is None
        steps.announce = heard
        steps.activate(version, "alice")
        assert VersionStore.of(site).active() == version
    finally:
        ledger.close()
