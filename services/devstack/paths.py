from __future__ import annotations

import random
import socket
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache"


def kafka_libs() -> Path:
    return CACHE / "kafka" / "libs"


PORTS = range(20000, 32768)
"""Below Linux's ephemeral range (32768-60999): a port we hand out is never the one the
kernel gives a client's connection or another `bind(0)`, so a process stopped and started
again (a killed instance in the tests) finds its port still free."""


def free_port() -> int:
    """A port on loopback that is free now, from `PORTS`, at random."""
    for port in random.sample(PORTS, 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("geen vrije poort gevonden")
