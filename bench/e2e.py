"""End-to-end benchmark of the whole pipeline: intake → Kafka → routing (OPA) → sharing →
audit, measured from a partner's POST until the ledger holds the melding's three decisions
and every one of its disclosures is released. Not a test: read the figures as orders of
magnitude on a shared machine.

    .venv/bin/python bench/e2e.py [-n 300] [-c 16] [--rate 20] [--seconds 15] [--json]
        [--instances 1] [--postgres]

By default it starts a deployment of its own, with the code the tests use: a fresh Kafka
broker (KRaft, SASL_SSL with SCRAM-SHA-512, TLS), OPA with `policies/`, and the four
services as processes on free ports, with `kmt up`'s demo identities, in a temporary
directory; it stops and removes all of it at the end. Its state is in SQLite files, as with
`make up`; with `--postgres` the ledger and the services' state are in a PostgreSQL server
of its own (fsync on), and with `--instances 2` (implies `--postgres`) every service runs
twice: the load goes round robin over both intakes, the follower reads the one ledger
through the first audit instance. With `--against-running` it uses the
stack that `make up` runs (ports and folders from the same `KMT_*` settings, demo identities
under `.cache/data/demo/`), and measures raw Kafka there only if the admin principal's
password is in the keys folder.

What it does, in order:
1. Posts meldingen through intake's real HTTP API as the demo reporter (`wijkteam-almelo`),
   with a token from the reference client's `private_key_jwt` flow (refreshed before it
   expires), a unique Idempotency-Key each, realistic variants of `examples/melding.json`
   (`bench/e2e_meldingen.py`): first a few warm-up meldingen (not counted), then
   (a) a burst of N meldingen by C concurrent posters, then (b) a fixed offered rate of R
   meldingen/s for S seconds (open loop: latencies count from each scheduled moment).
2. Follows them into the ledger through the audit API as the demo privacy officer: it pages
   through every new entry once per `--poll-ms` (each read is itself an `audit_access`
   entry), and times each melding by the entries' own `recorded_at`: POST → 202, POST →
   its three `decision` entries, POST → a `release` entry for every `disclosure` entry (and,
   to show where the time goes, POST → its `melding` entry and its `disclosure` entries).
   End to end meldingen/s is the meldingen done ÷ (last one done − first POST).
3. Measures plain aiokafka on the same broker with the same security and producer settings
   (acks=all, idempotent), records the size of a real `MeldingReceived` event read back from
   the meldingen topic, and prints the ratio pipeline ÷ raw.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench import e2e_stack
from bench.e2e_follow import Follower, Track
from bench.e2e_load import Poster, Tokens, load_parser, until_done
from bench.e2e_meldingen import variants
from bench.e2e_raw import melding_record_size, raw_kafka
from bench.e2e_report import phase_table, raw_table, summarize

WARM_UP = 5


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = load_parser(__doc__)
    parser.add_argument("--raw-records", type=int, default=20_000, help="0: no raw Kafka")
    parser.add_argument("--poll-ms", type=int, default=150, help="audit API read interval")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds a phase may take to finish"
    )
    parser.add_argument(
        "--instances", type=int, default=1, help="own stack: instances of each service"
    )
    parser.add_argument(
        "--postgres", action="store_true", help="own stack: ledger and state in PostgreSQL"
    )
    parser.add_argument("--against-running", action="store_true", help="use `make up`'s stack")
    parser.add_argument("--workdir", type=Path, help="own stack: keep its files (and logs) here")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    options = parser.parse_args(argv)
    if options.instances < 1:
        parser.error("--instances: at least 1")
    if options.against_running and (options.instances > 1 or options.postgres):
        parser.error("--instances and --postgres are for its own stack")
    options.postgres = options.postgres or options.instances > 1
    return options


async def measure(target: e2e_stack.Target, options: argparse.Namespace) -> dict[str, Any]:
    """Run the phases against `target`; the figures as a dict (see `bench.e2e_report`)."""
    rate_count = round(options.rate * options.seconds)
    meldingen = variants(WARM_UP + options.meldingen + rate_count, options.seed)
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        follower = Follower(http, target.audit_url, target.officer_token, options.poll_ms / 1000)
        await follower.start()
        following = asyncio.create_task(follower.run())
        tokens = Tokens(target.reporter(), target.intake_urls[0])
        poster = Poster(http, target.intake_urls, tokens, follower)

        async def settle(tracks: list[Track]) -> list[Track]:
            waiting = asyncio.create_task(until_done(tracks, options.timeout))
            await asyncio.wait([waiting, following], return_when=asyncio.FIRST_COMPLETED)
            if following.done():
                following.result()  # the follower failed: raise its error
            return tracks

        await settle(await poster.burst(meldingen[:WARM_UP], 1, "warm-up"))
        phases: dict[str, Any] = {}
        if options.meldingen:
            burst = meldingen[WARM_UP : WARM_UP + options.meldingen]
            tracks = await settle(await poster.burst(burst, options.concurrency, "burst"))
            load = {"meldingen": options.meldingen, "concurrency": options.concurrency}
            phases["burst"] = summarize(tracks, load)
        if rate_count:
            at_rate = meldingen[WARM_UP + options.meldingen :]
            tracks = await settle(await poster.rate(at_rate, options.rate, "rate"))
            load = {"per_second": options.rate, "seconds": options.seconds}
            phases["rate"] = summarize(tracks, load)
        following.cancel()
    result: dict[str, Any] = {
        "deployment": {"instances": target.instances, "backend": target.backend},
        "phases": phases,
        "audit_reads": follower.reads,
        "raw": None,
    }
    if target.raw_skipped:
        result["raw_skipped"] = target.raw_skipped
    elif options.raw_records:
        size = await melding_record_size(target.settings)
        result["raw"] = (await raw_kafka(target.settings, options.raw_records, size)).as_dict()
    burst_rate = phases.get("burst", {}).get("end_to_end_per_s")
    if result["raw"] and burst_rate:
        result["pipeline_per_raw"] = burst_rate / result["raw"]["produce_consume_per_s"]
    return result


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version()}


def render(result: dict[str, Any], options: argparse.Namespace) -> str:
    where = "against the running `make up` stack" if options.against_running else "own stack"
    info, deployed = result["machine"], result["deployment"]
    parts = [
        f"## End to end ({where}: {deployed['instances']} instance(s) per service, "
        f"{deployed['backend']}; {info['cpus']} CPUs, {info['cpu_model']}; "
        f"{result['audit_reads']} audit API reads)"
    ]
    titles = {
        "burst": f"Burst: {options.meldingen} meldingen, {options.concurrency} concurrent posters",
        "rate": f"Offered rate: {options.rate:g} meldingen/s for {options.seconds:g} s",
    }
    parts += [phase_table(titles[name], phase) for name, phase in result["phases"].items()]
    if result["raw"]:
        burst_rate = result["phases"].get("burst", {}).get("end_to_end_per_s")
        parts.append(raw_table(result["raw"], burst_rate))
    elif "raw_skipped" in result:
        parts.append(result["raw_skipped"])
    return "\n\n".join(parts)


def main() -> None:
    options = parse()
    if options.against_running:
        result = asyncio.run(measure(e2e_stack.running(), options))
    else:
        with e2e_stack.own(options.workdir, options.instances, options.postgres) as target:
            result = asyncio.run(measure(target, options))
    result["machine"] = machine()
    print(json.dumps(result, indent=2) if options.json else render(result, options))


if __name__ == "__main__":
    main()
