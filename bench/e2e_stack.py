"""Where the end-to-end benchmark runs: a deployment of its own, started with the code the
tests use (`services.devstack` for Kafka and OPA, `tests.stack.deployment` for the four
services with `kmt up`'s demo identities), or the one `make up` runs."""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from services.bus.principals import ADMIN, CredentialsMissing, read_password
from services.common.settings import Settings, get_settings
from services.devstack import demo, kafka, opa
from services.devstack.paths import free_port
from services.devstack.process import stop
from services.partner_client.client import PartnerClient
from tests.stack import deployment


@dataclass(frozen=True)
class Target:
    settings: Settings
    officer_token: str
    raw_skipped: str | None
    """Why raw Kafka cannot be measured here (no admin password), or None."""

    @property
    def intake_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.intake_port}"

    @property
    def audit_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.audit_port}"

    def reporter(self) -> PartnerClient:
        return demo.demo_client(demo.REPORTER, self.settings)


def target(settings: Settings) -> Target:
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
    return Target(settings, token_file.read_text().strip(), skipped)


def running() -> Target:
    """The stack `make up` runs (its settings from the environment, as `kmt up` read them)."""
    return target(get_settings())


@contextmanager
def own(workdir: Path | None = None) -> Iterator[Target]:
    """A fresh broker, OPA and the four services on free ports, in `workdir` (kept) or a
    temporary directory (removed); everything is stopped afterwards."""
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
        )
        with deployment(settings, root / "logs"):
            yield target(settings)
    finally:
        for process in reversed(started):
            stop(process)
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)
