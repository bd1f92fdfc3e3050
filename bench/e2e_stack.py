"""Where the end-to-end benchmark runs: a deployment of its own, started with the code the
tests use (`services.devstack` for Kafka and OPA, `tests.stack.Stack` for the four services
with `kmt up`'s demo identities, `tests.postgres_server` for PostgreSQL), or the one
`make up` runs.

Its own deployment keeps its state in SQLite files (as `make up` does), or with `postgres`
in a PostgreSQL server of its own (fsync on): the ledger (`KMT_AUDIT_DB_URL`) and the state
of intake, routing and sharing (`KMT_STATE_DB_URL`), each service with its own writer role.
With `instances` > 1 each service runs that many times, as `tests.stack.Stack.start_instance`
starts them (own port and data_dir); they can only share their work through PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import DescribeGroupsRequest_v2
from aiokafka.protocol.api import Request

from services.bus.client import bus_login
from services.bus.principals import ADMIN, CredentialsMissing, read_password
from services.common.settings import Settings, get_settings
from services.devstack import demo, kafka, opa
from services.devstack.paths import free_port
from services.devstack.process import stop
from services.devstack.services import SERVICES
from services.partner_client.client import PartnerClient
from tests.postgres_server import fresh_database, provision_services, running_postgres
from tests.stack import Stack


@dataclass(frozen=True)
class Target:
    settings: Settings
    officer_token: str
    raw_skipped: str | None
    """Why raw Kafka cannot be measured here (no admin password), or None."""
    intake_urls: tuple[str, ...] = field(default=())
    """Every intake instance; the load goes round robin over them (default: the one of
    `settings`)."""
    instances: int = 1

    def __post_init__(self) -> None:
        if not self.intake_urls:
            own_intake = (f"http://127.0.0.1:{self.settings.intake_port}",)
            object.__setattr__(self, "intake_urls", own_intake)

    @property
    def audit_url(self) -> str:
        """The audit instance the follower reads: the ledger is one, whichever appends."""
        return f"http://127.0.0.1:{self.settings.audit_port}"

    @property
    def backend(self) -> str:
        """Where the ledger and the services' state live."""
        return "PostgreSQL" if self.settings.audit_db_url else "SQLite"

    def reporter(self) -> PartnerClient:
        return demo.demo_client(demo.REPORTER, self.settings)


def target(settings: Settings, intake_urls: tuple[str, ...] = (), instances: int = 1) -> Target:
    token_file = demo.demo_dir(settings) / "privacy-officer.token"
    if not token_file.exists():
        raise SystemExit(
            f"geen token van de demo-privacy officer ({token_file}); draait `make up`?"
        )
    try:
        read_password(settings.keys_dir, ADMIN)
        skipped = None
    except CredentialsMissing as missing:
        skipped = f"kale Kafka niet gemeten: {missing}"
    return Target(settings, token_file.read_text().strip(), skipped, intake_urls, instances)


def running() -> Target:
    """The stack `make up` runs (its settings from the environment, as `kmt up` read them)."""
    return target(get_settings())


CONSUMERS = ("routing", "sharing", "audit")


class _DescribeGroups(Request[DescribeGroupsRequest_v2]):
    """DescribeGroups at v2: aiokafka 0.14 asks this broker for v3 and then reads the answer
    with v2's schema (`DescribeGroupsRequest_v3.RESPONSE_TYPE`), which fails to decode."""

    API_KEY = 15

    def __init__(self, groups: list[str]) -> None:
        self._groups = groups

    def build(
        self, request_struct_class: type[DescribeGroupsRequest_v2]
    ) -> DescribeGroupsRequest_v2:
        return request_struct_class(self._groups)


async def _groups_settled(
    settings: Settings, members: int, consumers: tuple[str, ...] = CONSUMERS, timeout: float = 90.0
) -> None:
    """Wait until each consumer service's group is `Stable` with `members` members, so that
    no rebalance (a newly started instance joining) falls inside a measured phase."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, **bus_login(settings, ADMIN).aiokafka()
    )
    await admin.start()
    groups = [settings.group(service) for service in consumers]
    deadline = time.monotonic() + timeout
    try:
        while True:
            states = {}
            for group in groups:
                coordinator = await admin.find_coordinator(group)
                answer = await admin._send_request(_DescribeGroups([group]), coordinator)
                states.update({g[1]: (g[2], len(g[5])) for g in answer.groups})
            if all(states.get(g) == ("Stable", members) for g in groups):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"consumer groups not settled: {states}")
            await asyncio.sleep(1)
    finally:
        await admin.close()


@contextmanager
def deployed(
    settings: Settings,
    logs: Path,
    instances: int = 1,
    env: dict[str, dict[str, str]] | None = None,
    extra: tuple[str, ...] = (),
) -> Iterator[Target]:
    """The four services, `instances` of each, and one of each of `extra` (e.g. `alerts`), on
    the broker and OPA of `settings` (`env`: per service, its state URL), once every consumer
    group has settled; stopped afterwards."""
    stack = Stack(settings, logs, env=env or {})
    stack.prepare()
    try:
        stack.start()
        if extra:
            stack.start(*extra)
        for number in range(2, instances + 1):
            for service in SERVICES:
                stack.start_instance(service, number)
        asyncio.run(_groups_settled(settings, instances))
        if extra:
            asyncio.run(_groups_settled(settings, 1, extra))
        intakes = ("intake", *(f"intake-{n}" for n in range(2, instances + 1)))
        yield target(settings, tuple(stack.url(i) for i in intakes), instances)
    finally:
        stack.stop()


@contextmanager
def state_databases(postgres: bool) -> Iterator[tuple[str, dict[str, dict[str, str]]]]:
    """Without `postgres`: nothing (SQLite files in each data_dir). With it: a fresh server
    (fsync on, as SQLite's commits are durable too), the ledger's writer URL and each
    service's environment with its state URL (see `provision_services`)."""
    if not postgres:
        yield "", {}
        return
    with running_postgres(fsync=True) as server:
        yield provision_services(fresh_database(server))


@contextmanager
def own(
    workdir: Path | None = None,
    instances: int = 1,
    postgres: bool = False,
    overrides: dict[str, object] | None = None,
    extra: tuple[str, ...] = (),
) -> Iterator[Target]:
    """A fresh broker, OPA and `instances` of each of the four services on free ports (with
    PostgreSQL if `postgres`, needed for more than one), and one of each of `extra` (with
    `overrides` of their settings), in `workdir` (kept) or a temporary directory (removed);
    everything is stopped afterwards."""
    if instances > 1 and not postgres:
        raise ValueError("meer dan één instantie per dienst vraagt PostgreSQL")
    root = workdir or Path(tempfile.mkdtemp(prefix="kmt-bench-"))
    started: list[subprocess.Popen[bytes]] = []
    try:
        kafka_port, opa_port = free_port(), free_port()
        keys = root / "keys"
        # aiokafka logs every refused connection while the broker starts; that is expected
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
        started.append(kafka.start_kafka(root / "kafka", kafka_port, free_port(), keys))
        logging.getLogger("aiokafka").setLevel(logging.NOTSET)
        started.append(opa.start_opa(root / "opa", opa_port))
        with state_databases(postgres) as (audit_db_url, env):
            settings = Settings(
                kafka_bootstrap=f"127.0.0.1:{kafka_port}",
                kafka_ca_file=root / "kafka" / "tls" / "ca.pem",
                opa_url=f"http://127.0.0.1:{opa_port}",
                topic_prefix="bench.",
                data_dir=root / "data",
                keys_dir=keys,
                partners_file=root / "partners.json",
                staff_file=root / "staff.json",
                intake_port=free_port(),
                sharing_port=free_port(),
                audit_port=free_port(),
                audit_db_url=audit_db_url,
            ).model_copy(update=overrides or {})
            with deployed(settings, root / "logs", instances, env, extra) as running:
                yield running
    finally:
        for process in reversed(started):
            stop(process)
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)
