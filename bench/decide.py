"""Benchmark (not a test): decisions per second and p50/p99 latency through a running OPA
server with the async client, one at a time and batched with asyncio.gather; and per
melding, all three recipients as three questions at once (gather) or as one question (rule
`decisions`, what routing asks), one melding at a time: latency is then per melding.

    .venv/bin/python bench/decide.py [--url http://127.0.0.1:8181] [-n 2000] [--batch 10]

Without --url (or KMT_OPA_URL) it starts its own OPA on a free port with a bundle of
policies/ (decision logs off) and stops it afterwards. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from uuid import uuid4

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


from services.common.models import RECIPIENTS, Melding  # noqa: E402
from services.devstack.opa import start_opa  # noqa: E402
from services.devstack.paths import free_port  # noqa: E402
from services.devstack.process import stop  # noqa: E402
from services.policy.engine import PolicyEngine, decide_all  # noqa: E402


def meldingen() -> list[Melding]:
    scenarios = sorted((REPO / "tests" / "scenarios").glob("*.json"))
    return [
        Melding.model_validate(
            {"melding_id": str(uuid4()), **json.loads(p.read_text(encoding="utf-8"))["melding"]}
        )
        for p in scenarios
    ]


async def timed(engine: PolicyEngine, melding: Melding, recipient: str) -> float:
    start = time.perf_counter()
    await engine.decide(melding, recipient)
    return time.perf_counter() - start


async def timed_three(engine: PolicyEngine, melding: Melding) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(engine.decide(melding, r) for r in RECIPIENTS))
    return time.perf_counter() - start


async def timed_all(engine: PolicyEngine, melding: Melding) -> float:
    start = time.perf_counter()
    await decide_all(engine, melding)
    return time.perf_counter() - start


async def per_melding(engine: PolicyEngine, n: int) -> list[str]:
    cases = meldingen()
    work = [cases[i % len(cases)] for i in range(n // len(RECIPIENTS))]
    start = time.perf_counter()
    three = [await timed_three(engine, m) for m in work]
    rows = [row("per melding: 3 vragen (gather)", three, time.perf_counter() - start, 3)]
    start = time.perf_counter()
    one = [await timed_all(engine, m) for m in work]
    rows.append(row("per melding: 1 vraag (decisions)", one, time.perf_counter() - start, 3))
    return rows


async def run(url: str, n: int, batch: int) -> list[str]:
    cases = [(m, r) for m in meldingen() for r in RECIPIENTS]
    work = [cases[i % len(cases)] for i in range(n)]
    engine = PolicyEngine(url)
    rows = []
    try:
        for m, r in work[:50]:  # warm-up: connection pool, OPA's caches
            await engine.decide(m, r)
        start = time.perf_counter()
        sequential = [await timed(engine, m, r) for m, r in work]
        rows.append(row("één tegelijk", sequential, time.perf_counter() - start))
        start = time.perf_counter()
        batched: list[float] = []
        for i in range(0, n, batch):
            chunk = work[i : i + batch]
            batched += await asyncio.gather(*(timed(engine, m, r) for m, r in chunk))
        rows.append(row(f"batches van {batch} (gather)", batched, time.perf_counter() - start))
        rows += await per_melding(engine, n)
    finally:
        await engine.close()
    return rows


def row(mode: str, latencies: list[float], elapsed: float, per_request: int = 1) -> str:
    """`per_request`: decisions each timed request gives (3 when per melding)."""
    cuts = statistics.quantiles(latencies, n=100)
    decisions = len(latencies) * per_request
    return (
        f"| {mode} | {decisions} | {decisions / elapsed:,.0f} "
        f"| {cuts[49] * 1000:.2f} | {cuts[98] * 1000:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("KMT_OPA_URL"))
    parser.add_argument("-n", type=int, default=2000, help="besluiten per meting")
    parser.add_argument("--batch", type=int, default=10)
    args = parser.parse_args()
    process = None
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url
        if url is None:  # the served shape: the bundle, with decision logs on
            port = free_port()
            process = start_opa(Path(tmp), port)
            url = f"http://127.0.0.1:{port}"
        try:
            rows = asyncio.run(run(url, args.n, args.batch))
        finally:
            if process is not None:
                stop(process)
    print("| modus | besluiten | besluiten/s | p50 (ms) | p99 (ms) |")
    print("|---|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
