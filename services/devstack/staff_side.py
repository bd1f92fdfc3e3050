"""The staff side of a local deployment: the operator API and the web console, for `kmt up`
and the console's browser tests. Neither is on the event path; the console calls audit,
sharing and the operator API with the logged-in person's own token."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

from services.common.settings import Settings
from services.devstack.paths import REPO
from services.devstack.process import stop, wait_http_ok
from services.devstack.services import environment

DEMO_LOGINS = (
    ("privacy officer", "privacy-officer.token"),
    ("KMT-medewerker", "kmt-worker.token"),
    ("operator A", "operator-a.token"),
    ("operator B", "operator-b.token"),
)
"""Who can log in to the console in the demo, and the file (in the demo folder) holding the
staff token they log in with."""


def console_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.console_port}"


def start_staff_side(settings: Settings, logs: Path) -> list[subprocess.Popen[bytes]]:
    """Start the operator API (at `KMT_CONSOLE_OPERATOR_URL`'s port) and the console, and wait
    until both answer; returns the processes, the console last."""
    logs.mkdir(parents=True, exist_ok=True)
    port = urlparse(settings.console_operator_url).port or 8183
    operator_api = ["policy", "operator-api", "--port", str(port)]
    commands = {
        "operator-api": (operator_api, settings.console_operator_url),
        "console": (["console"], console_url(settings)),
    }
    started: list[subprocess.Popen[bytes]] = []
    try:
        for name, (arguments, url) in commands.items():
            process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", *arguments],
                cwd=REPO,
                env=environment(settings),
                stdout=(logs / f"{name}.log").open("ab"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            started.append(process)
            wait_http_ok(f"{url.rstrip('/')}/health", process, name)
    except BaseException:
        for process in reversed(started):
            stop(process)
        raise
    return started
