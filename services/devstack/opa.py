"""An OPA server serving `policies/` as a bundle, with decision logs on."""

from __future__ import annotations

import subprocess
from pathlib import Path

from services.devstack.process import stop, wait_http_ok
from services.policy.engine import POLICIES, find_opa_binary, write_bundle


def start_opa(run_dir: Path, port: int, policies: Path = POLICIES) -> subprocess.Popen[bytes]:
    """Build the bundle (policies + revision), start OPA, return once it is healthy.
    Decision logs go to `run_dir/opa.log`."""
    binary = find_opa_binary()
    if binary is None:
        raise FileNotFoundError("OPA niet gevonden: voer `make provision` uit")
    run_dir.mkdir(parents=True, exist_ok=True)
    bundle = run_dir / "bundle"
    write_bundle(policies, bundle)
    process = subprocess.Popen(
        [binary, "run", "--server", "--addr", f"127.0.0.1:{port}", "--bundle", str(bundle),
         "--set", "decision_logs.console=true", "--log-format", "json"],
        stdout=(run_dir / "opa.log").open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/health?bundles", process, "OPA")
    except BaseException:
        stop(process)
        raise
    return process
