"""One policy lifecycle step at a time, across every process that takes one (`kmt policy …`
on any host, each operator API instance and each of its threads).

A step reads the ledger, decides, appends and switches the store's active pointer; two at
once could both pass a check that only one may pass (two activations of the same version,
a rollback racing an activation). With the ledger in PostgreSQL the lock is a session-level
advisory lock on its own connection (`LOCK_ID`), which any role may take and which the
server releases when the connection ends, also when the process dies. With the ledger in
SQLite every stepping process shares the file system, and the lock is an exclusive `flock`
on a file in the version store, released when the file closes. Not SQLite's own write lock
(`BEGIN IMMEDIATE`): that would stop every other service's appends for the length of a step
(a proposal runs `opa check` and `opa test`), and the step's own appends take that lock.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

import psycopg

from services.common.postgres_roles import is_postgres

LOCK_ID = 0x4B4D54_504F
"""`KMT` `PO`: the advisory lock id of the policy lifecycle (the ledger's is `KMT` `AU`)."""
LOCK_FILE = ".lifecycle.lock"


class StepLock(Protocol):
    def __call__(self) -> AbstractContextManager[None]: ...


def step_lock(audit_db_url: str, store_root: Path) -> StepLock:
    """The lock for a deployment whose ledger is at `audit_db_url` and whose versions are in
    `store_root`."""
    if is_postgres(audit_db_url):
        return lambda: _advisory(audit_db_url)
    return lambda: _flock(store_root / LOCK_FILE)


@contextmanager
def _advisory(url: str) -> Iterator[None]:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("SELECT pg_advisory_lock(%s)", [LOCK_ID])
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", [LOCK_ID])


@contextmanager
def _flock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
