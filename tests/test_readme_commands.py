"""The README as a newcomer reads it: every command block runs as printed, in order, after
`kmt up` (what `make up` runs once it has provisioned); then Ctrl-C stops everything.

The blocks run in a scratch folder that looks like a fresh clone (the repository's files
linked in, its own `.cache/`), with bash `-euo pipefail`, and `curl` fails on any answer of
400 or more. The only edits are the ports (`127.0.0.1:8001` etc. become this run's free
ports) and `/tmp/` (this test's folder).
Shell variables a block sets (`TOKEN=…`) carry over to the next block, as in one terminal.
Between blocks the test waits for what a person would wait for (the pipeline to finish).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from services.devstack.paths import REPO, free_port
from tests.stack import eventually

pytestmark = pytest.mark.integration

README = REPO / "README.md"
READY = "Ctrl-C stopt alles."
NOT_RUN = ("make up", "make test")
"""The first block: the test itself provisions nothing and runs `kmt up` instead."""
PROVISIONED = ("kafka", "bin", "gopath")
"""What `provision/provision.sh` put under `.cache/`; keys, stores and registries are made anew."""
PORTS = {"8001": "intake", "8002": "sharing", "8003": "audit"}
STRICT_CURL = 'curl() { command curl --fail-with-body "$@"; }'
"""The one addition to the blocks: an answer of 400 or more fails the block."""
CARRIED = re.compile(r"^([A-Z][A-Z0-9_]*)=", re.MULTILINE)


def command_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", text, re.DOTALL | re.MULTILINE)


@dataclass
class Terminal:
    """A newcomer's terminal in a fresh clone, with `kmt up` running in another."""

    home: Path
    env: dict[str, str]
    ports: dict[str, int]
    scratch: Path
    variables: dict[str, str]
    up: subprocess.Popen[str]
    welcome: list[str]

    def run(self, block: str) -> str:
        script = block
        for port, service in PORTS.items():
            script = script.replace(f"127.0.0.1:{port}", f"127.0.0.1:{self.ports[service]}")
        script = script.replace("/tmp/", f"{self.scratch}/")
        state = self.scratch / "variables"
        names = sorted(set(CARRIED.findall(block)) | set(self.variables))
        keep = "".join(f'printf "%s=%s\\0" {n} "${{{n}:-}}" >> {state}\n' for n in names)
        state.unlink(missing_ok=True)
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", f"{STRICT_CURL}\n{script}\n{keep}"],
            cwd=self.home,
            env={**self.env, **self.variables},
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, (
            f"{block}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
        if state.exists():
            pairs = (item.split("=", 1) for item in state.read_text().split("\0") if item)
            self.variables.update({name: value for name, value in pairs if value})
        return result.stdout

    def settled(self) -> bool:
        """Every melding the blocks sent so far has its three decisions and, for each
        recipient allowed, its disclosure in the trail."""
        officer = (self.home / ".cache/data/demo/privacy-officer.token").read_text().strip()
        for name, melding_id in self.variables.items():
            if not name.startswith("MELDING"):
                continue
            trail = httpx.get(
                f"http://127.0.0.1:{self.ports['audit']}/v1/audit/meldingen/{melding_id}",
                headers={"Authorization": f"Bearer {officer}"},
                timeout=30,
            ).json()["entries"]
            allowed = {e["recipient"] for e in trail if e["type"] == "decision" and e["allow"]}
            decided = sum(e["type"] == "decision" for e in trail)
            disclosed = {e["recipient"] for e in trail if e["type"] == "disclosure"}
            if decided < 3 or not allowed <= disclosed:
                return False
        return True


@pytest.fixture(scope="module")
def terminal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Terminal]:
    home = tmp_path_factory.mktemp("clone")
    for item in REPO.iterdir():
        if item.name not in (".cache", ".git"):
            (home / item.name).symlink_to(item)
    # the provisioned servers, as `make up` leaves them; the data folders are this run's own
    (home / ".cache").mkdir()
    for provisioned in PROVISIONED:
        if (REPO / ".cache" / provisioned).exists():
            (home / ".cache" / provisioned).symlink_to(REPO / ".cache" / provisioned)
    ports = {name: free_port() for name in ("intake", "sharing", "audit", "console")}
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KMT_")},
        "KMT_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "KMT_OPA_URL": f"http://127.0.0.1:{free_port()}",
        **{f"KMT_{name.upper()}_PORT": str(port) for name, port in ports.items()},
        "KMT_ROUTING_PORT": str(free_port()),
        "KMT_ALERTS_PORT": str(free_port()),
        "KMT_CONSOLE_OPERATOR_URL": f"http://127.0.0.1:{free_port()}",
        # as the README's operators section starts it, so `kmt demo replay` decides on the
        # scenarios' date whatever day this runs
        "KMT_REFERENCE_TIME": "2026-03-02T09:30:00Z",
    }
    up = subprocess.Popen(
        [str(home / ".venv" / "bin" / "kmt"), "up"],
        cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    output: list[str] = []
    try:
        assert up.stdout is not None
        deadline = time.monotonic() + 180
        while not any(READY in line for line in output):
            assert time.monotonic() < deadline and up.poll() is None, "".join(output)
            output.append(up.stdout.readline())
        yield Terminal(home, env, ports, tmp_path_factory.mktemp("tmp"), {}, up, output)
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            up.communicate(timeout=90)


def test_every_readme_command_block_runs_as_printed(terminal: Terminal) -> None:
    blocks = command_blocks(README.read_text())
    assert blocks and all(command in blocks[0] for command in NOT_RUN)
    outputs = []
    for block in blocks[1:]:
        eventually(terminal.settled, timeout=90)
        outputs.append(terminal.run(block))
    fetched = next(o for b, o in zip(blocks[1:], outputs, strict=True) if "partner fetch" in b)
    assert_matches_readme(fetched, next(b for b in blocks if "partner fetch" in b))


def assert_matches_readme(printed: str, block: str) -> None:
    """The fetch output the README shows is what the command prints: the same JSON keys."""
    shown = " ".join(line.lstrip("# ") for line in block.splitlines() if line.startswith("# "))
    lines = [json.loads(line) for line in printed.splitlines() if line.strip()]
    assert lines, "partner fetch printed no disclosure"
    for key in re.findall(r'"([a-z_]+)":', shown):
        assert key in json.dumps(lines[0]), f"README shows {key!r}, the command does not print it"


def test_the_welcome_names_the_console_and_its_demo_logins(terminal: Terminal) -> None:
    console = f"http://127.0.0.1:{terminal.ports['console']}"
    assert any(console in line for line in terminal.welcome)
    assert any("operator-b.token" in line for line in terminal.welcome)
    login = httpx.get(f"{console}/aanmelden", timeout=30)
    assert login.status_code == 200 and "Medewerkerstoken" in login.text


def test_ctrl_c_stops_everything_and_leaves_no_process_behind(terminal: Terminal) -> None:
    terminal.up.send_signal(signal.SIGINT)
    rest, _ = terminal.up.communicate(timeout=90)
    assert "Alles gestopt." in rest
    assert processes_using(str(terminal.home)) == []


def processes_using(marker: str) -> list[int]:
    """Pids whose command line or environment mentions `marker` (this test's deployment)."""
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
