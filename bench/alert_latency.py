"""How long an acute melding takes to reach KMT's on-call worker: from the partner's POST to
the e-mail arriving at a real SMTP server and to the signed webhook arriving at a real HTTP
receiver, while the load of bench/e2e.py runs (issue 12 §1: within 1 s p99). Not a test:
read the figures as what this machine did.

    .venv/bin/python bench/alert_latency.py [-n 300] [-c 16] [--rate 20] [--seconds 15]
        [--acute-share 0.1] [--json]

It starts a deployment of its own (as bench/e2e.py does: a fresh broker, OPA, the four
services, and here also the alerts service, with an aiosmtpd server and an HTTP receiver
on loopback as the on-call channel), then posts bench/e2e.py's two load shapes: a burst of
N meldingen by C concurrent posters and a fixed offered rate of R meldingen/s for S seconds
(open loop: each clock starts at the scheduled moment). The meldingen are e2e.py's variants,
of which `--acute-share` (by default one in ten, as in e2e.py) has `signals.acute_danger`;
every acute one is timed, POST → e-mail received and POST → webhook received, with the
receivers' clock (`time.time()` on the same machine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench import e2e_stack
from bench.e2e_load import Tokens, load_parser
from bench.e2e_meldingen import variants
from tests.receivers import HttpSink, SmtpSink, http_sink, smtp_sink

WARM_UP = 5


@dataclass
class Sent:
    sent: float
    acute: bool
    melding_id: str | None = None
    accepted: float | None = None
    """When its 202 came back: the part of the latency that is intake's."""


def load(count: int, seed: int, acute_share: float) -> list[dict[str, Any]]:
    """e2e.py's variants, acute with probability `acute_share`."""
    rng = random.Random(seed)
    meldingen = variants(count, seed)
    for melding in meldingen:
        melding["signals"]["acute_danger"] = rng.random() < acute_share
    return meldingen


class Poster:
    def __init__(self, http: httpx.AsyncClient, intake_url: str, tokens: Tokens) -> None:
        self.http, self.url, self.tokens = http, f"{intake_url}/v1/meldingen", tokens

    async def post(self, melding: dict[str, Any], sent: Sent) -> None:
        headers = {
            "Authorization": f"Bearer {await self.tokens.get()}",
            "Idempotency-Key": f"bench-{uuid.uuid4()}",
        }
        response = await self.http.post(self.url, json=melding, headers=headers)
        if response.status_code == 202:
            sent.melding_id = str(response.json()["melding_id"])
            sent.accepted = time.time()

    async def burst(self, meldingen: list[dict[str, Any]], concurrency: int) -> list[Sent]:
        queue = list(reversed(meldingen))
        done: list[Sent] = []

        async def poster() -> None:
            while queue:
                melding = queue.pop()
                sent = Sent(time.time(), melding["signals"]["acute_danger"])
                done.append(sent)
                await self.post(melding, sent)

        await asyncio.gather(*(poster() for _ in range(concurrency)))
        return done

    async def rate(self, meldingen: list[dict[str, Any]], per_second: float) -> list[Sent]:
        start_wall, start = time.time(), time.monotonic()
        done: list[Sent] = []
        tasks = []
        for i, melding in enumerate(meldingen):
            await asyncio.sleep(max(0.0, start + i / per_second - time.monotonic()))
            sent = Sent(start_wall + i / per_second, melding["signals"]["acute_danger"])
            done.append(sent)
            tasks.append(asyncio.create_task(self.post(melding, sent)))
        await asyncio.gather(*tasks)
        return done


def arrivals(http: HttpSink, smtp: SmtpSink) -> tuple[dict[str, float], dict[str, float]]:
    """When each melding's alert arrived: by webhook, by e-mail (the first of each)."""
    hooks: dict[str, float] = {}
    for r in http.at("/oncall"):
        hooks.setdefault(json.loads(r.body)["melding_id"], r.at)
    mails: dict[str, float] = {}
    for m in list(smtp.mails):
        mails.setdefault(str(m.message["X-KMT-Melding"]), m.at)
    return hooks, mails


async def settle(acute: list[Sent], http: HttpSink, smtp: SmtpSink, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hooks, mails = arrivals(http, smtp)
        if all(s.melding_id in hooks and s.melding_id in mails for s in acute):
            return
        await asyncio.sleep(0.2)


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value at least a share `q` of all are at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def figures(sent: list[Sent], http: HttpSink, smtp: SmtpSink) -> dict[str, Any]:
    hooks, mails = arrivals(http, smtp)
    raised = {  # routing's moment, carried in the webhook's body
        body["melding_id"]: datetime.fromisoformat(body["raised_at"]).timestamp()
        for body in (json.loads(r.body) for r in http.at("/oncall"))
    }
    acute = [s for s in sent if s.acute and s.melding_id]
    result: dict[str, Any] = {"meldingen": len(sent), "acute": len(acute)}
    accepted: dict[str, float] = {
        s.melding_id: s.accepted for s in acute if s.melding_id and s.accepted is not None
    }
    steps = (("202", accepted), ("alert raised", raised), ("webhook", hooks), ("email", mails))
    for name, arrived in steps:
        latencies = [arrived[s.melding_id] - s.sent for s in acute if s.melding_id in arrived]
        result[name] = {
            "received": len(latencies),
            "p50_s": percentile(latencies, 0.50) if latencies else None,
            "p99_s": percentile(latencies, 0.99) if latencies else None,
            "max_s": max(latencies) if latencies else None,
        }
    return result


async def measure(
    target: e2e_stack.Target, http: HttpSink, smtp: SmtpSink, options: argparse.Namespace
) -> dict[str, Any]:
    rate_count = round(options.rate * options.seconds)
    meldingen = load(WARM_UP + options.meldingen + rate_count, options.seed, options.acute_share)
    for melding in meldingen[:WARM_UP]:
        melding["signals"]["acute_danger"] = True  # the warm-up goes all the way to on-call
    phases: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=256)) as client:
        poster = Poster(
            client, target.intake_urls[0], Tokens(target.reporter(), target.intake_urls[0])
        )
        warm = await poster.burst(meldingen[:WARM_UP], 1)
        await settle(warm, http, smtp, options.timeout)
        if options.meldingen:
            burst = await poster.burst(
                meldingen[WARM_UP : WARM_UP + options.meldingen], options.concurrency
            )
            await settle([s for s in burst if s.acute], http, smtp, options.timeout)
            phases["burst"] = figures(burst, http, smtp)
        if rate_count:
            rate = await poster.rate(meldingen[WARM_UP + options.meldingen :], options.rate)
            await settle([s for s in rate if s.acute], http, smtp, options.timeout)
            phases["rate"] = figures(rate, http, smtp)
    return phases


def render(phases: dict[str, Any], options: argparse.Namespace) -> str:
    titles = {
        "burst": f"burst: {options.meldingen} meldingen, {options.concurrency} concurrent posters",
        "rate": f"offered rate: {options.rate:g} meldingen/s for {options.seconds:g} s",
    }
    lines = [
        "| load | acute | channel | received | p50 | p99 | max |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, phase in phases.items():
        for channel in ("202", "alert raised", "webhook", "email"):
            f = phase[channel]
            ms = [
                f"{f[k] * 1000:.0f} ms" if f[k] is not None else "-"
                for k in ("p50_s", "p99_s", "max_s")
            ]
            lines.append(
                f"| {titles[name]} | {phase['acute']} of {phase['meldingen']} | POST → {channel} "
                f"| {f['received']} | {' | '.join(ms)} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = load_parser(__doc__)
    parser.add_argument("--acute-share", type=float, default=0.1, help="share with acute_danger")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a phase may take")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    options = parser.parse_args()
    with http_sink() as http, smtp_sink() as smtp:
        overrides: dict[str, object] = {
            "oncall_webhook_url": http.url("/oncall"),
            "oncall_email_to": "dienst@kmt.test",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
        }
        with e2e_stack.own(overrides=overrides, extra=("alerts",)) as target:
            phases = asyncio.run(measure(target, http, smtp, options))
    print(json.dumps(phases, indent=2) if options.json else render(phases, options))


if __name__ == "__main__":
    main()
