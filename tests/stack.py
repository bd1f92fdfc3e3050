"""A whole deployment for end-to-end tests: its own topics, stores, keys, partners and
staff, with the four services as real processes against the session's Kafka and OPA."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient

from services.bus.acls import CLUSTER, Grant, create_acls
from services.bus.client import bus_login
from services.bus.kafka import ensure_topics, make_producer
from services.bus.principals import ADMIN, user_name
from services.bus.signing import load_signer
from services.common.events import CloudEvent
from services.common.settings import Settings
from services.devstack import demo
from services.devstack.paths import free_port
from services.devstack.process import stop
from services.devstack.services import SERVICES, start_service, wait_healthy
from services.partner_client.client import PartnerClient
from services.sharing.references import melding_reference, reference_key

SCENARIOS = Path(__file__).parent / "scenarios"
SCENARIO_DATE = "2026-03-02T09:30:00Z"
"""The worked scenarios' `received_at`: a test deployment's fixed clock for replaying them."""
FORGER = "forger"
"""A test-only Kafka principal: the tests grant it what an attacker with a foothold would
have (write access to one topic) and show the services still refuse what it forges."""
T = TypeVar("T")
PORTS = {
    "intake": "intake_port",
    "routing": "routing_port",  # its /metrics, /health and /ready
    "sharing": "sharing_port",
    "audit": "audit_port",
}


@dataclass
class Stack:
    """One deployment with the identities of `kmt up`'s demo: a partner per recipient (the
    RIEC, Veilig Thuis, each gemeente), the reporting wijkteam, a privacy officer and a KMT
    worker."""

    settings: Settings
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    env: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per service, variables besides `settings` (e.g. its own database role)."""
    instances: dict[str, Settings] = field(default_factory=dict)
    """The settings of each further instance (`<service>-2`, ...): its own port."""

    def prepare(self) -> None:
        asyncio.run(ensure_topics(self.settings))
        demo.prepare(self.settings)

    @property
    def officer_token(self) -> str:
        return (demo.demo_dir(self.settings) / "privacy-officer.token").read_text()

    @property
    def worker_token(self) -> str:
        return (demo.demo_dir(self.settings) / "kmt-worker.token").read_text()

    def partner_keys(self, partner_id: str) -> Path:
        """The folder with a partner's private JWKs (`auth.jwk.json`, `encryption.jwk.json`)."""
        return demo.demo_dir(self.settings) / partner_id

    def start(self, *names: str) -> None:
        """Start services (default: all four), or further instances by their name
        (`sharing-2`) once `start_instance` made them."""
        for name in names or SERVICES:
            assert name not in self.processes, f"{name} draait al"
            service = name.split("-")[0]
            settings = self.instances.get(name, self.settings)
            process = start_service(
                service, settings, self.logs / f"{name}.log", self.env.get(service)
            )
            self.processes[name] = process
            wait_healthy(service, settings, process)

    def start_instance(self, service: str, number: int = 2) -> str:
        """Start another instance of `service`, named `<service>-<number>`, as on another
        machine: the same settings (topics and consumer group, keys, databases), but a port
        and a `data_dir` of its own. Only the key store of the melding data keys is shared,
        as docker-compose.yml's `keystore` volume is."""
        name = f"{service}-{number}"
        data_dir = self.settings.data_dir.with_name(f"{self.settings.data_dir.name}-{name}")
        data_dir.mkdir(parents=True, exist_ok=True)
        update: dict[str, object] = {
            "data_dir": data_dir,
            "keystore_file": self.settings.keystore_file or self.settings.data_dir / "keystore.db",
        }
        if service in PORTS:
            update[PORTS[service]] = free_port()
        self.instances[name] = self.settings.model_copy(update=update)
        self.start(name)
        return name

    def ensure(self, *names: str) -> None:
        """Start those of `names` that are not running."""
        missing = [n for n in names if n not in self.processes]
        if missing:
            self.start(*missing)

    def kill(self, *names: str) -> None:
        """SIGKILL: no clean shutdown, no last commit, as when a machine dies."""
        for name in names:
            process = self.processes.pop(name)
            process.send_signal(signal.SIGKILL)
            process.wait()

    def stop(self, *names: str) -> None:
        for name in names or tuple(self.processes):
            process = self.processes.pop(name, None)
            if process is not None:
                stop(process)

    def url(self, service: str) -> str:
        """The HTTP address of a service, or of a further instance (`sharing-2`)."""
        settings = self.instances.get(service, self.settings)
        port = getattr(settings, PORTS[service.split("-")[0]])
        return f"http://127.0.0.1:{port}"

    def client(self, partner_id: str, sharing: str = "sharing") -> PartnerClient:
        """The reference partner client, as partner `partner_id` would run it (against
        `sharing`, or a further instance of it such as `sharing-2`)."""
        client = demo.demo_client(partner_id, self.settings)
        client.base_url = self.url(sharing)
        return client

    def fetch_all(self, partner_id: str, sharing: str = "sharing") -> list[dict[str, Any]]:
        """Every disclosure released to the partner so far, still sealed, page by page."""
        client = self.client(partner_id, sharing)
        items, cursor = [], 0
        while (page := client.fetch(cursor)).items:
            items += page.items
            cursor = page.next_cursor
        return items

    def melding_ref(self, melding_id: str, partner_id: str) -> str:
        """The partner's own reference to the melding (what it sees instead of its id)."""
        return melding_reference(reference_key(self.settings), melding_id, partner_id)

    def submit(
        self,
        melding: dict[str, Any],
        partner: str = "wijkteam-almelo",
        idempotency_key: str | None = None,
        intake: str = "intake",
    ) -> str:
        """Send a melding as `partner` (to `intake`, or a further instance such as
        `intake-2`); returns its melding id."""
        key = idempotency_key or f"test-{uuid.uuid4()}"
        reply = self.client(partner).submit_melding(self.url(intake), melding, key)
        return str(reply["melding_id"])

    def audit_entries(self, melding_id: str, audit: str = "audit") -> list[dict[str, Any]]:
        response = httpx.get(
            f"{self.url(audit)}/v1/audit/meldingen/{melding_id}",
            headers={"Authorization": f"Bearer {self.officer_token}"},
            timeout=10,
        )
        response.raise_for_status()
        body = response.json()
        return list(body["entries"] if isinstance(body, dict) else body)


@contextmanager
def deployment(settings: Settings, logs: Path, *services: str) -> Iterator[Stack]:
    """A prepared deployment running `services` (default: all four), stopped afterwards."""
    stack = Stack(settings, logs)
    stack.prepare()
    try:
        stack.start(*services)
        yield stack
    finally:
        stack.stop()


def scenario(name: str) -> dict[str, Any]:
    return dict(json.loads((SCENARIOS / name).read_text()))


def submission(name: str) -> dict[str, Any]:
    """A scenario's melding as a partner sends it (intake assigns id and time)."""
    melding = dict(scenario(name)["melding"])
    melding.pop("received_at", None)
    melding.pop("melding_id", None)
    return melding


def eventually(probe: Callable[[], T | None], timeout: float = 60.0, every: float = 0.5) -> T:
    """Poll `probe` until it returns something truthy; fail with the last value otherwise."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"niet bereikt binnen {timeout:.0f} s (laatste waarde: {last!r})")


def read_records(
    settings: Settings,
    topic: str,
    want: int | None = None,
    seconds: float = 20.0,
    quiet_ms: int = 1500,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Records on one of the deployment's topics, from the beginning: until `want` arrived,
    or (without `want`) until nothing new came for `quiet_ms`; at most `seconds`."""

    async def read() -> list[ConsumerRecord[bytes, bytes]]:
        consumer = AIOKafkaConsumer(
            settings.topic(topic),
            bootstrap_servers=settings.kafka_bootstrap,
            **bus_login(settings, ADMIN).aiokafka(),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        found: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=300 if want else quiet_ms)
                new = [r for rs in batch.values() for r in rs]
                found += new
                if (want is not None and len(found) >= want) or (want is None and not new):
                    break
        finally:
            await consumer.stop()
        return found

    return asyncio.run(read())


def read_events(settings: Settings, topic: str, want: int | None = None) -> list[dict[str, Any]]:
    """The CloudEvents on a topic (JSON), as `read_records` finds them."""
    return [json.loads(r.value) for r in read_records(settings, topic, want) if r.value]


Item = CloudEvent | tuple[bytes, bytes] | tuple[bytes, bytes, list[tuple[str, bytes]]]


def send(settings: Settings, topic: str, *items: Item, sign_as: str | None = None) -> None:
    """Put events, or raw (key, value[, headers]) records, on one of the deployment's topics,
    as the test-only `forger` principal after granting it write access to that topic: an
    attacker with valid broker credentials and a foothold. With `sign_as`, each record is
    signed with that service's own event key (a service that misbehaves, or one whose key
    was stolen); a record's own headers (a replay) are kept as they are."""
    grant_forger(settings, topic)
    signer = load_signer(settings, sign_as) if sign_as else None

    async def produce() -> None:
        producer = make_producer(settings, FORGER)
        await producer.start()
        try:
            for item in items:
                headers: list[tuple[str, bytes]] = []
                if isinstance(item, CloudEvent):
                    key, value = item.key, item.to_bytes()
                elif len(item) == 3:
                    key, value, headers = item
                else:
                    key, value = item[0], item[1]
                if signer is not None:
                    headers = signer.headers(settings.topic(topic), key, value)
                await producer.send_and_wait(
                    settings.topic(topic), value, key=key, headers=headers or None
                )
        finally:
            await producer.stop()

    asyncio.run(produce())


def grant_forger(settings: Settings, topic: str) -> None:
    """Let the `forger` principal write to one of the deployment's topics."""

    async def grant() -> None:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap, **bus_login(settings, ADMIN).aiokafka()
        )
        await admin.start()
        try:
            await create_acls(
                admin,
                [
                    Grant(user_name(FORGER), "topic", settings.topic(topic), "write"),
                    Grant(user_name(FORGER), "cluster", CLUSTER, "idempotent_write"),
                ],
            )
        finally:
            await admin.close()

    asyncio.run(grant())
