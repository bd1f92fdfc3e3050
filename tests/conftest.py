"""The real servers, started once per test session: Apache Kafka (KRaft) and OPA serving
policies/. Tests isolate themselves by topic prefix and consumer group, never by restarting
the servers."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.common.settings import Settings, get_settings
from services.devstack import kafka, opa
from services.devstack.paths import free_port
from tests.stack import FORGER, SCENARIO_DATE, Stack, deployment

pytest_plugins = ["tests.postgres_server"]


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    opa_url: str
    root: Path
    kafka_ca_file: Path
    bus_keys: Path
    """`<principal>/kafka.password` of every principal the broker was formatted with."""


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    root = tmp_path_factory.mktemp("infra")
    started: list[subprocess.Popen[bytes]] = []
    try:
        kafka_port = free_port()
        bus_keys = root / "bus-keys"
        started.append(
            kafka.start_kafka(root / "kafka", kafka_port, free_port(), bus_keys, (FORGER,))
        )
        opa_port = free_port()
        started.append(opa.start_opa(root / "opa", opa_port))
        yield Infra(
            f"127.0.0.1:{kafka_port}",
            f"http://127.0.0.1:{opa_port}",
            root,
            root / "kafka" / "tls" / "ca.pem",
            bus_keys,
        )
    finally:
        # Throwaway servers: kill them; a graceful KRaft shutdown only costs the suite time.
        for process in reversed(started):
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def kafka_bootstrap(infra: Infra) -> str:
    return infra.kafka_bootstrap


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Settings]]:
    """Set `KMT_*` variables for one test, as a deployment's environment would, and return
    what `get_settings()` now reads; the cached settings are dropped before and after."""

    def apply(**values: object) -> Settings:
        for name, value in values.items():
            monkeypatch.setenv(f"KMT_{name.upper()}", str(value))
        get_settings.cache_clear()
        return get_settings()

    yield apply
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def settings_factory(
    infra: Infra, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., Settings]:
    """Settings of an isolated deployment: own topics, groups, stores, keys and ports."""

    def make(**overrides: object) -> Settings:
        prefix = f"t{uuid.uuid4().hex[:10]}."
        home = tmp_path_factory.mktemp(prefix.rstrip("."))
        # each deployment keeps its own copy of the bus passwords, as a real one would
        shutil.copytree(infra.bus_keys, home / "keys")
        values: dict[str, object] = {
            "kafka_bootstrap": infra.kafka_bootstrap,
            "kafka_ca_file": infra.kafka_ca_file,
            "opa_url": infra.opa_url,
            "topic_prefix": prefix,
            "data_dir": home / "data",
            "keys_dir": home / "keys",
            "partners_file": home / "partners.json",
            "staff_file": home / "staff.json",
            "intake_port": free_port(),
            "sharing_port": free_port(),
            "audit_port": free_port(),
            "routing_port": free_port(),
            "retry_max_seconds": 2.0,
            **overrides,
        }
        return Settings(**values)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="module")
def stack(
    settings_factory: Callable[..., Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One running deployment (all four services) for a test module; a module that needs
    other settings defines its own `stack`."""
    with deployment(settings_factory(), tmp_path_factory.mktemp("logs")) as running:
        yield running


@pytest.fixture(scope="module")
def scenario_stack(
    settings_factory: Callable[..., Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A deployment whose intake stamps every melding with the worked scenarios' date
    (`KMT_REFERENCE_TIME`), so they decide as on that day, whatever day the test runs."""
    settings = settings_factory(reference_time=SCENARIO_DATE)
    with deployment(settings, tmp_path_factory.mktemp("logs")) as running:
        yield running
