"""A real PostgreSQL server from Debian's packages, for the tests (and the benchmark).

`postgres_url` (session scope) initialises a cluster under `.cache/pg/<random>`, starts it on
a free loopback port and yields a superuser URL; the cluster is stopped and removed at the
end. PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user.
`fresh_database(url)` gives each test its own empty database on that server, and
`provision_services(owner_url)` migrates a deployment's ledger and state tables there with a
writer role per service (the multi-instance test and `bench/e2e.py --postgres` share it).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from services.audit.postgres_store import init_schema as init_ledger
from services.devstack.paths import free_port
from services.state.migrate import init_schema as init_state

ROOT = Path(__file__).resolve().parent.parent
CLUSTERS = ROOT / ".cache" / "pg"


def postgres_bin() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not candidates:
        raise RuntimeError("PostgreSQL ontbreekt: voer provision/postgres.sh uit")
    return candidates[-1]


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextmanager
def running_postgres(*, fsync: bool = False) -> Iterator[str]:
    """Start a throwaway cluster; yields its superuser URL; stops and removes it afterwards."""
    binaries = postgres_bin()
    directory = CLUSTERS / secrets.token_hex(4)
    directory.mkdir(parents=True)
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(directory, account.pw_uid, account.pw_gid)
    port = free_port()
    subprocess.run(
        _as_server_user(
            [
                str(binaries / "initdb"),
                "-D",
                str(directory / "data"),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-instructions",
            ]
        ),
        check=True,
        capture_output=True,
    )
    options = (
        f"-p {port} -k {directory} -c listen_addresses=127.0.0.1"
        f" -c fsync={'on' if fsync else 'off'}"
    )
    pg_ctl = [str(binaries / "pg_ctl"), "-D", str(directory / "data")]
    subprocess.run(
        _as_server_user(
            [*pg_ctl, "-o", options, "-l", str(directory / "server.log"), "-w", "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_server_user([*pg_ctl, "-m", "fast", "-w", "stop"]), check=False, capture_output=True
        )
        shutil.rmtree(directory, ignore_errors=True)


def fresh_database(url: str) -> str:
    """A new empty database on the server at `url`; returns its URL."""
    name = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return url.rsplit("/", 1)[0] + f"/{name}"


def writer(owner_url: str, service: str) -> tuple[str, str, str]:
    """(role, password, URL) of a new writer role for `service` (roles are cluster-wide)."""
    role, password = f"kmt_{service}_{secrets.token_hex(4)}", secrets.token_hex(12)
    return role, password, owner_url.replace("postgres@", f"{role}:{password}@")


def provision_services(owner_url: str) -> tuple[str, dict[str, dict[str, str]]]:
    """As the owner of the database at `owner_url`: the ledger's tables with audit's writer
    role and the policy lifecycle's appending role, and the state tables of intake, routing
    and sharing each with its own writer role, as `kmt audit init-db [--appender]` and
    `kmt state init-db SERVICE` make them. Returns the ledger's writer URL (`audit_db_url`)
    and, per service, the environment with its state URL (`policy`: its ledger URL)."""
    audit_role, audit_password, audit_url = writer(owner_url, "audit")
    init_ledger(owner_url, audit_role, writer_password=audit_password)
    policy_role, policy_password, policy_url = writer(owner_url, "policy")
    init_ledger(owner_url, policy_role, writer_password=policy_password, appender=True)
    env = {"policy": {"KMT_AUDIT_DB_URL": policy_url}}
    for service in ("intake", "routing", "sharing"):
        role, password, url = writer(owner_url, service)
        init_state(owner_url, service, role, password)
        env[service] = {"KMT_STATE_DB_URL": url}
    return audit_url, env


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with running_postgres() as url:
        yield url
