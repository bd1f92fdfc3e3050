"""An OPA server serving `policies/` as a bundle, with decision logs on."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx

from services.devstack.kafka import stop
from services.devstack.paths import POLICIES, opa_binary
from services.routing.policy import write_bundle


def start_opa(run_dir: Path, port: int) -> subprocess.Popen[bytes]:
    """Build the bundle (policies + revision), start OPA, return once it is healthy."""
    run_dir.mkdir(parents=True, exist_ok=True)
    bundle = run_dir / "bundle"
    write_bundle(POLICIES, bundle)
    log = (run_dir / "opa.log").open("ab")
    process = subprocess.Popen(
        [
            opa_binary(),
            "run",
            "--server",
            "--addr",
            f"127.0.0.1:{port}",
            "--bundle",
            str(bundle),
            "--set",
            "decision_logs.console=true",
            "--log-format",
            "json",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", process)
    except BaseException:
        stop(process)
        raise
    return process


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"OPA stopte meteen (exit {process.returncode})")
        try:
            if httpx.get(f"{url}/health?bundles", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"OPA op {url} niet gezond binnen {timeout:.0f} s")
        time.sleep(0.2)
