"""`kmt up`: the whole system on this machine — Kafka, OPA and the four services — until
Ctrl-C, which stops every process it started."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from urllib.parse import urlparse

from services.common.kafka import ensure_topics
from services.common.settings import get_settings
from services.devstack import kafka, opa
from services.devstack.paths import CACHE, REPO
from services.devstack.services import SERVICES, start_service, wait_healthy


def run() -> None:
    settings = get_settings()
    run_dir = CACHE / "run"
    processes: list[subprocess.Popen[bytes]] = []
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        port = int(settings.kafka_bootstrap.rsplit(":", 1)[1])
        print(f"Kafka (KRaft) start op {settings.kafka_bootstrap} …", flush=True)
        processes.append(kafka.start_kafka(run_dir / "kafka", port, port + 1))
        opa_port = urlparse(settings.opa_url).port or 8181
        print(f"OPA start op {settings.opa_url} …", flush=True)
        processes.append(opa.start_opa(run_dir / "opa", opa_port))
        asyncio.run(ensure_topics(settings))
        prepare_demo()
        for name in SERVICES:
            process = start_service(name, settings, run_dir / "logs" / f"{name}.log")
            processes.append(process)
            wait_healthy(name, settings, process)
        print_welcome(settings.intake_port, settings.sharing_port, settings.audit_port)
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        print("Een proces stopte onverwacht; zie .cache/run/logs. Alles wordt gestopt.")
    except KeyboardInterrupt:
        print("\nStoppen …")
    finally:
        for process in reversed(processes):
            kafka.stop(process)
        print("Alles gestopt.")


def prepare_demo() -> None:
    """Keys and a demo partner registry, so the README's example works on a fresh clone."""
    subprocess.run(
        [sys.executable, "-m", "services.cli", "demo", "prepare"],
        cwd=REPO,
        check=True,
        env=os.environ.copy(),
    )


def print_welcome(intake_port: int, sharing_port: int, audit_port: int) -> None:
    print(
        f"""
KMT signaaluitwisseling draait.
  intake   http://127.0.0.1:{intake_port}/docs
  sharing  http://127.0.0.1:{sharing_port}/docs   (partner-API)
  audit    http://127.0.0.1:{audit_port}/docs     (privacy officers)
  logs     .cache/run/logs/

Een melding insturen als demo-partner (gemeente Almelo):
  TOKEN=$(.venv/bin/kmt demo token intake)
  curl -s -X POST http://127.0.0.1:{intake_port}/v1/meldingen \\
       -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
       -H 'Idempotency-Key: demo-1' --data @examples/melding.json

Ctrl-C stopt alles.""",
        flush=True,
    )
