from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache"
POLICIES = REPO / "policies"


def kafka_libs() -> Path:
    return CACHE / "kafka" / "libs"


def opa_binary() -> str:
    explicit = os.environ.get("KMT_OPA_BIN")
    if explicit:
        return explicit
    local = CACHE / "bin" / "opa"
    if local.exists():
        return str(local)
    found = shutil.which("opa")
    if found is None:
        raise FileNotFoundError("OPA niet gevonden: voer `make provision` uit")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
