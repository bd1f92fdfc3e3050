"""Starting the four services as processes, configured through their environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from services.common.settings import Settings
from services.devstack.paths import REPO
from services.devstack.process import wait_http_ok

SERVICES = ("intake", "routing", "sharing", "audit")
ALERTS = "alerts"
"""Tells KMT's on-call worker of acute danger; `kmt up` starts it after the four (a test
deployment only when it asks for it: `Stack.start("alerts")`)."""


def environment(settings: Settings) -> dict[str, str]:
    """The process environment that makes a service read exactly `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KMT_")}
    for name, value in settings.model_dump().items():
        if value is None:  # unset: the service falls back to its default, as here
            continue
        # the service runs in the repository; a relative path means where `kmt up` was run
        env[f"KMT_{name.upper()}"] = str(value.resolve() if isinstance(value, Path) else value)
    return env


def start_service(
    name: str, settings: Settings, log_file: Path, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", name],
        cwd=REPO,
        env={**environment(settings), **(extra_env or {})},
        stdout=log_file.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def http_port(name: str, settings: Settings) -> int | None:
    ports = {
        "intake": settings.intake_port,
        "sharing": settings.sharing_port,
        "audit": settings.audit_port,
    }
    return ports.get(name)


def wait_healthy(name: str, settings: Settings, process: subprocess.Popen[bytes]) -> None:
    """Wait for an HTTP service's /health; the routing worker has none and is not waited on."""
    port = http_port(name, settings)
    if port is not None:
        wait_http_ok(f"http://127.0.0.1:{port}/health", process, name)
