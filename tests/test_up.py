"""`kmt up` as a person runs it: everything starts, the README's example produces audit
entries, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from services.devstack.paths import REPO, free_port
from tests.stack import eventually

READY = "Ctrl-C stopt alles."


def processes_using(marker: str) -> list[int]:
    """Pids whose command line or environment mentions `marker` (our own deployment)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            blob = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in blob:
            found.append(int(proc.name))
    return found


def test_kmt_up_runs_the_readme_example_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    home = tmp_path / "kmt-up-home"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KMT_")},
        "KMT_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "KMT_OPA_URL": f"http://127.0.0.1:{free_port()}",
        "KMT_DATA_DIR": str(home / "data"),
        "KMT_KEYS_DIR": str(home / "keys"),
        "KMT_PARTNERS_FILE": str(home / "partners.json"),
        "KMT_STAFF_FILE": str(home / "staff.json"),
        "KMT_INTAKE_PORT": str(intake := free_port()),
        "KMT_SHARING_PORT": str(free_port()),
        "KMT_AUDIT_PORT": str(audit := free_port()),
        "KMT_CONSOLE_PORT": str(console := free_port()),
        "KMT_CONSOLE_OPERATOR_URL": f"http://127.0.0.1:{free_port()}",
    }
    up = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    output: list[str] = []
    try:
        assert up.stdout is not None
        deadline = time.monotonic() + 120
        while not any(READY in line for line in output):
            assert time.monotonic() < deadline and up.poll() is None, "".join(output)
            output.append(up.stdout.readline())

        token = subprocess.run(
            [sys.executable, "-m", "services.cli", "demo", "token", "intake"],
            cwd=REPO, env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        response = httpx.post(
            f"http://127.0.0.1:{intake}/v1/meldingen",
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "demo-1"},
            content=(REPO / "examples" / "melding.json").read_bytes(),
            timeout=20,
        )
        assert response.status_code == 202, response.text
        melding_id = response.json()["melding_id"]
        officer = (home / "data" / "demo" / "privacy-officer.token").read_text()

        def decisions() -> list[dict[str, object]]:
            trail = httpx.get(
                f"http://127.0.0.1:{audit}/v1/audit/meldingen/{melding_id}",
                headers={"Authorization": f"Bearer {officer}"},
            ).json()["entries"]
            return [e for e in trail if e["type"] == "decision"]

        assert len(eventually(lambda: len(decisions()) == 3 and decisions(), timeout=60)) == 3
        # the console is up, named in the welcome with the demo logins
        assert any(f"http://127.0.0.1:{console}" in line for line in output)
        assert any("operator-b.token" in line for line in output)
        login = httpx.get(f"http://127.0.0.1:{console}/aanmelden")
        assert login.status_code == 200 and "Medewerkerstoken" in login.text
    finally:
        up.send_signal(signal.SIGINT)
        rest, _ = up.communicate(timeout=90)
    assert "Alles gestopt." in rest
    assert processes_using(str(home)) == []
