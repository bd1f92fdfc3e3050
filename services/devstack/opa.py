"""An OPA server that loads only signed policy bundles, with decision logs on.

`start_opa` builds `policies/` as a policy version (checked and signed, `VersionStore.build`),
makes it active, and starts one process that serves the store's active version
(`BundleServer`) to an OPA it runs as its child: OPA polls it every second, verifies each
bundle with the policy key's public half, and keeps its bundle when a new one fails. So
switching the store's active version changes OPA's decisions without a restart, and
stopping the process stops both.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from services.devstack.paths import REPO, free_port
from services.devstack.process import stop, wait_http_ok
from services.policy.bundle_server import BundleServer
from services.policy.bundle_signing import (
    generate_policy_keys,
    opa_bundle_args,
    verification_key_path,
)
from services.policy.engine import POLICIES, find_opa_binary
from services.policy.versions import VersionStore

POLL_SECONDS = 1


def start_opa(
    run_dir: Path,
    port: int,
    policies: Path | None = POLICIES,
    store: VersionStore | None = None,
) -> subprocess.Popen[bytes]:
    """Build and activate `policies` as a version in `store` (default: one in `run_dir`,
    with its own key), start OPA on it and return once it has loaded it. With `policies`
    None, OPA starts with whatever `store` has active, or no policy at all. Decision logs and
    OPA's own log go to `run_dir/opa.log`."""
    binary = find_opa_binary()
    if binary is None:
        raise FileNotFoundError("OPA niet gevonden: voer `make provision` uit")
    run_dir.mkdir(parents=True, exist_ok=True)
    store = store or VersionStore(run_dir / "versions", run_dir / "keys")
    generate_policy_keys(store.keys_dir)
    if policies is not None:
        version = store.build(policies, "kmt up", f"het beleid in {policies.name}/ bij het starten")
        store.set_active(version.id)
    bundles = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "services.devstack.opa", str(store.root.resolve()),
         str(store.keys_dir.resolve()), str(bundles), "--",
         binary, "run", "--server", "--addr", f"127.0.0.1:{port}",
         *opa_bundle_args(f"http://127.0.0.1:{bundles}",
                          verification_key_path(store.keys_dir).resolve(), POLL_SECONDS),
         "--set", "decision_logs.console=true", "--log-format", "json"],
        cwd=REPO,
        stdout=(run_dir / "opa.log").open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    health = "/health?bundles" if store.active() is not None else "/health"
    try:
        wait_http_ok(f"http://127.0.0.1:{port}{health}", process, "OPA")
    except BaseException:
        stop(process)
        raise
    return process


def _serve(argv: list[str]) -> int:
    """`python -m services.devstack.opa STORE KEYS PORT -- OPA-COMMAND…`: the bundle server
    in a thread, OPA as the child; SIGTERM stops OPA, and with it this process."""
    root, keys, port, separator, *command = argv
    assert separator == "--", "gebruik: STORE KEYS PORT -- opa run …"
    server = BundleServer(VersionStore(Path(root), Path(keys)), ("127.0.0.1", int(port)))
    server.start()
    opa = subprocess.Popen(command)
    signal.signal(signal.SIGTERM, lambda *_: opa.terminate())
    code = opa.wait()
    server.shutdown()
    return code


if __name__ == "__main__":
    sys.exit(_serve(sys.argv[1:]))
