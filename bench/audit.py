"""Audit ledger benchmark: append rate and `verify` rate (not a timed test).

    .venv/bin/python bench/audit.py [--entries N] [--batch B] [--backend sqlite|postgres]

Appends N decision entries in batches of B (one transaction each, checkpoint every 1000
entries, durable commits: SQLite WAL with synchronous=FULL, PostgreSQL with fsync on), then
one-entry transactions as the consumer records them today, then verifies the whole ledger
(every hash, link, Merkle root and checkpoint signature), and times inclusion proofs against
the last checkpoint (read from stored nodes). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.entry import Draft
from services.audit.ledger import Ledger
from services.audit.postgres_store import PostgresStore
from services.audit.sqlite_store import SqliteStore
from services.audit.store import Store
from tests.postgres_server import fresh_database, running_postgres

SINGLES = 2000
PROOFS = 1000


def draft(n: int) -> Draft:
    return Draft(
        type="decision",
        event_id=f"bench-{n}",
        actor="kmt/routing",
        event_type="nl.kmt.sharing.decided",
        melding_id=f"00000000-0000-4000-8000-{n // 3:012d}",
        recipient=("riec", "gemeente_veiligheid", "veilig_thuis")[n % 3],
        allow=n % 2 == 0,
        purpose="aanpak ondermijning en daderaanpak",
        legal_basis=("AVG art. 6 lid 1 sub e", "UAVG art. 33"),
        fields=("exploitation_forms", "municipality", "suspects", "victim.pseudonym"),
        obligations=("pseudonymise:victim", "retention:P5Y"),
        reasons=("riec.ondermijning",),
        policy_revision="bench-rev",
        trace_id=f"bench-{n}",
    )


@contextlib.contextmanager
def store(backend: str) -> Iterator[Store]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            made = SqliteStore(Path(directory) / "audit.sqlite3")
            yield made
            made.close()
    else:
        with running_postgres(fsync=True) as url:
            made_pg = PostgresStore(fresh_database(url))
            yield made_pg
            made_pg.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    with store(args.backend) as chosen:
        ledger = Ledger(chosen, Ed25519PrivateKey.generate(), checkpoint_every=1000)
        started = time.perf_counter()
        for low in range(0, args.entries, args.batch):
            ledger.append_many([draft(n) for n in range(low, min(low + args.batch, args.entries))])
        batched = time.perf_counter() - started
        started = time.perf_counter()
        for n in range(args.entries, args.entries + SINGLES):
            ledger.append(draft(n))
        singles = time.perf_counter() - started
        ledger.checkpoint()
        started = time.perf_counter()
        result = ledger.verify()
        verifying = time.perf_counter() - started
        if not result.ok:
            raise SystemExit(f"verify faalde: {result.problems[:3]}")
        size = ledger.checkpointed_size()
        started = time.perf_counter()
        for n in range(PROOFS):
            ledger.inclusion_proof(n * (size - 1) // (PROOFS - 1), size)
        proving = time.perf_counter() - started
    total = args.entries + SINGLES
    print(f"\n### Audit ledger, {args.backend}, {total:,} entries\n")
    print("| measure | entries | seconds | entries/s |")
    print("|---|---:|---:|---:|")
    print(
        f"| append, batches of {args.batch} | {args.entries:,} | {batched:.1f} | "
        f"{args.entries / batched:,.0f} |"
    )
    print(
        f"| append, one per transaction | {SINGLES:,} | {singles:.1f} | {SINGLES / singles:,.0f} |"
    )
    print(
        f"| verify (hashes, chain, {result.checkpoints} checkpoints) | {result.entries:,} | "
        f"{verifying:.1f} | {result.entries / verifying:,.0f} |"
    )
    print(
        f"| inclusion proofs at {size:,} entries (proofs, proofs/s) | {PROOFS:,} | "
        f"{proving:.2f} | {PROOFS / proving:,.0f} |"
    )


if __name__ == "__main__":
    main()
