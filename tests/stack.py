"""A whole deployment for end-to-end tests: its own topics, stores, keys, partners and
staff, with the four services as real processes against the session's Kafka and OPA."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer
from joserfc.jwk import ECKey, OKPKey

from services.common import keys
from services.common.kafka import ensure_topics
from services.common.partners import PartnerRegistry, new_partner
from services.common.settings import Settings
from services.common.staff import add_member
from services.devstack.kafka import stop
from services.devstack.services import SERVICES, start_service, wait_healthy
from services.partner_client.client import PartnerClient

SCENARIOS = Path(__file__).parent / "scenarios"
TWENTE = (
    "almelo",
    "borne",
    "dinkelland",
    "enschede",
    "haaksbergen",
    "hellendoorn",
    "hengelo",
    "hof_van_twente",
    "losser",
    "oldenzaal",
    "rijssen_holten",
    "tubbergen",
    "twenterand",
    "wierden",
)
T = TypeVar("T")


@dataclass
class PartnerKeys:
    id: str
    auth: OKPKey
    encryption: ECKey


@dataclass
class Stack:
    settings: Settings
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    partners: dict[str, PartnerKeys] = field(default_factory=dict)
    officer_token: str = ""
    worker_token: str = ""

    def prepare(self) -> None:
        asyncio.run(ensure_topics(self.settings))
        keys.generate_keys(self.settings.keys_dir)
        registry = PartnerRegistry()
        recipients = [("riec-oost", "riec", None), ("veilig-thuis-twente", "veilig_thuis", None)]
        recipients += [(f"gemeente-{m.replace('_', '-')}", "gemeente", m) for m in TWENTE]
        for partner_id, kind, municipality in [
            *recipients,
            ("wijkteam-almelo", "zorg_wijkteam", None),
        ]:
            pk = PartnerKeys(
                partner_id, OKPKey.generate_key("Ed25519"), ECKey.generate_key("P-256")
            )
            self.partners[partner_id] = pk
            registry = registry.with_partner(
                new_partner(
                    id=partner_id,
                    name=partner_id,
                    kind=kind,
                    municipality=municipality,
                    auth_key=pk.auth.as_dict(private=False),
                    encryption_key=pk.encryption.as_dict(private=False),
                )
            )
        registry.save(self.settings.partners_file)
        self.officer_token = add_member("fg-zvht", "privacy_officer", self.settings.staff_file)
        self.worker_token = add_member("kmt-medewerker", "kmt_worker", self.settings.staff_file)

    def start(self, *names: str) -> None:
        for name in names or SERVICES:
            process = start_service(name, self.settings, self.logs / f"{name}.log")
            self.processes[name] = process
            wait_healthy(name, self.settings, process)

    def ensure(self, *names: str) -> None:
        """Start those of `names` that are not running."""
        missing = [n for n in names if n not in self.processes]
        if missing:
            self.start(*missing)

    def stop(self, *names: str) -> None:
        for name in names or tuple(self.processes):
            process = self.processes.pop(name, None)
            if process is not None:
                stop(process)

    def url(self, service: str) -> str:
        port = {
            "intake": self.settings.intake_port,
            "sharing": self.settings.sharing_port,
            "audit": self.settings.audit_port,
        }[service]
        return f"http://127.0.0.1:{port}"

    def client(self, partner_id: str) -> PartnerClient:
        """The reference partner client, as partner `partner_id` would run it."""
        pk = self.partners[partner_id]
        return PartnerClient(
            base_url=self.url("sharing"),
            partner_id=partner_id,
            auth_private_jwk=pk.auth.as_dict(private=True),
            encryption_private_jwk=pk.encryption.as_dict(private=True),
            kmt_public_jwks=keys.public_keyset(self.settings.keys_dir).as_dict(),
        )

    def submit(
        self,
        melding: dict[str, Any],
        partner: str = "wijkteam-almelo",
        idempotency_key: str | None = None,
    ) -> str:
        """Send a melding as `partner`; returns its melding id."""
        key = idempotency_key or f"test-{uuid.uuid4()}"
        reply = self.client(partner).submit_melding(self.url("intake"), melding, key)
        return str(reply["melding_id"])

    def audit_entries(self, melding_id: str) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{self.url('audit')}/v1/audit/meldingen/{melding_id}",
            headers={"Authorization": f"Bearer {self.officer_token}"},
            timeout=10,
        )
        response.raise_for_status()
        body = response.json()
        return list(body["entries"] if isinstance(body, dict) else body)


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


def read_events(settings: Settings, topic: str) -> list[dict[str, Any]]:
    """Every event on one of the deployment's topics, from the beginning."""

    async def read() -> list[dict[str, Any]]:
        consumer = AIOKafkaConsumer(
            settings.topic(topic),
            bootstrap_servers=settings.kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            events: list[dict[str, Any]] = []
            while batch := await consumer.getmany(timeout_ms=1500):
                events += [json.loads(r.value) for rs in batch.values() for r in rs]
            return events
        finally:
            await consumer.stop()

    return asyncio.run(read())
