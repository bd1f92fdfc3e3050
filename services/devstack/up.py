"""`kmt up`: the whole system on this machine — Kafka, OPA, the four services, the alerts
service, the operator API and the web console — until Ctrl-C (or SIGTERM), which stops every
process it started."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path
from types import FrameType
from urllib.parse import urlparse

from services.bus.kafka import ensure_topics
from services.common.settings import Settings, get_settings
from services.devstack import demo, kafka, opa
from services.devstack.paths import free_port
from services.devstack.process import stop
from services.devstack.services import ALERTS, SERVICES, start_service, wait_healthy
from services.devstack.staff_side import DEMO_LOGINS, console_url, start_staff_side
from services.policy.engine import POLICIES, policy_revision
from services.policy.versions import VersionStore


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run() -> None:
    settings = get_settings()
    run_dir = settings.data_dir / "devstack"
    processes: list[subprocess.Popen[bytes]] = []
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        port = int(settings.kafka_bootstrap.rsplit(":", 1)[1])
        print(f"Kafka (KRaft) start op {settings.kafka_bootstrap} …", flush=True)
        processes.append(kafka.start_kafka(run_dir / "kafka", port, free_port(), settings.keys_dir))
        # the broker's CA made by start_kafka, wherever the data dir is
        settings = settings.model_copy(
            update={"kafka_ca_file": run_dir / "kafka" / "tls" / "ca.pem"}
        )
        print(f"OPA start op {settings.opa_url} …", flush=True)
        store = VersionStore.of(settings)
        opa_port = urlparse(settings.opa_url).port or 8181
        processes.append(opa.start_opa(run_dir / "opa", opa_port, first_policies(store), store))
        asyncio.run(ensure_topics(settings))
        for line in demo.prepare(settings):
            print(f"aangemaakt: {line}", flush=True)
        if "staff_url" not in settings.model_fields_set:  # an alert links to this console
            settings = settings.model_copy(update={"staff_url": console_url(settings)})
        for name in (*SERVICES, ALERTS):
            process = start_service(name, settings, run_dir / "logs" / f"{name}.log")
            processes.append(process)
            wait_healthy(name, settings, process)
        processes += start_staff_side(settings, run_dir / "logs")
        print(welcome(settings), flush=True)
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        print(f"Een proces stopte onverwacht; zie {run_dir / 'logs'}. Alles wordt gestopt.")
    except KeyboardInterrupt:
        print("\nStoppen …", flush=True)
    finally:
        for process in reversed(processes):
            stop(process)
        print("Alles gestopt.", flush=True)


def first_policies(store: VersionStore) -> Path | None:
    """policies/ on the first start (it becomes a checked, signed version and the active
    one); None once a version is active: that one stays, also when policies/ differs,
    because changing it is the lifecycle's (`kmt policy propose`, four eyes), not a
    restart's."""
    active = store.active()
    if active is None:
        return POLICIES
    if active != policy_revision(POLICIES):
        print(
            f"Beleidsversie {active} blijft actief; policies/ wijkt ervan af: dien het in met"
            " `kmt policy propose policies/ --message … --by …`.",
            flush=True,
        )
    return None


def welcome(settings: Settings) -> str:
    demo_dir = demo.demo_dir(settings)
    clock = (
        f"\nTESTKLOK: intake geeft elke melding het tijdstip {settings.reference_time.isoformat()}"
        " (KMT_REFERENCE_TIME; nooit in productie)."
        if settings.reference_time
        else ""
    )
    logins = "\n".join(f"  {who:<16} {demo_dir / name}" for who, name in DEMO_LOGINS)
    return f"""
KMT signaaluitwisseling draait.{clock}
  intake   http://127.0.0.1:{settings.intake_port}/docs
  sharing  http://127.0.0.1:{settings.sharing_port}/docs   (partner-API)
  audit    http://127.0.0.1:{settings.audit_port}/docs     (privacy officers)
  console  {console_url(settings)}          (de webconsole voor medewerkers)
  logs     {settings.data_dir / "devstack" / "logs"}

Aanmelden in de console: plak het demotoken uit het bestand van de rol.
{logins}

Een melding insturen als demo-partner (wijkteam Almelo):
  TOKEN=$(.venv/bin/kmt demo token intake)
  curl -s -X POST http://127.0.0.1:{settings.intake_port}/v1/meldingen \\
       -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
       -H 'Idempotency-Key: demo-1' --data @examples/melding.json

De audittrail van die melding (als privacy officer):
  curl -s -H "Authorization: Bearer $(cat {demo_dir}/privacy-officer.token)" \\
       http://127.0.0.1:{settings.audit_port}/v1/audit/meldingen/<melding_id>

Ctrl-C stopt alles."""
