from __future__ import annotations

import itertools
import os
import random
import socket
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache"


def kafka_libs() -> Path:
    return CACHE / "kafka" / "libs"


PORTS = range(20000, 32768)
"""Below Linux's ephemeral range (32768-60999): a port we hand out is never the one the
kernel gives a client's connection or another `bind(0)`, so a process stopped and started
again (a killed instance in the tests) finds its port still free."""


def _own_ports() -> Iterator[int]:
    """This process's ports, in turn from a random start: the tests run in several processes
    (pytest-xdist's `gw0`, `gw1`, ...), and each takes its own block of `PORTS`, so no two
    hand out the same port, and one process hands a port out again only after all others."""
    number = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    index = int(number) if number.isdigit() else 0
    count = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")), index + 1)
    size = len(PORTS) // count
    block = PORTS[index * size : (index + 1) * size]
    start = random.randrange(len(block))
    return itertools.cycle([*block[start:], *block[:start]])


_ports = _own_ports()


def free_port() -> int:
    """The next of this process's ports that is free now."""
    for _ in range(200):
        port = next(_ports)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("geen vrije poort gevonden")
