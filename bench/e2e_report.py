"""The end-to-end benchmark's figures: per phase, rates and latency percentiles, as a
markdown table for people and a dict for `--json`."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from bench.e2e_follow import Track

LATENCIES = (
    ("post_202", "POST → 202"),
    ("post_recorded", "POST → melding recorded"),
    ("post_decided", "POST → 3 decisions recorded"),
    ("post_disclosed", "POST → every disclosure recorded"),
    ("post_released", "POST → every disclosure released"),
)
"""Each a step further along the path; every time but the 202 is a ledger entry's."""


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _spread(values: list[float]) -> dict[str, float | int] | None:
    if not values:
        return None
    ms = [v * 1000 for v in values]
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms),
    }


def summarize(tracks: list[Track], load: dict[str, Any]) -> dict[str, Any]:
    accepted = [t for t in tracks if t.status == 202]
    done = [t for t in accepted if t.done]
    with_disclosures = [t for t in done if t.allowed]
    first = min((t.sent for t in tracks), default=0.0)
    last_accept = max((t.accepted or 0.0 for t in accepted), default=first)
    last_done = max((t.finished or 0.0 for t in done), default=first)
    allowed = Counter(r for t in done for r, (allow, _) in t.decisions.items() if allow)
    return {
        "load": load,
        "sent": len(tracks),
        "accepted": len(accepted),
        "refused": dict(Counter(str(t.status) for t in tracks if t.status != 202)),
        "done": len(done),
        "incomplete": len(accepted) - len(done),
        "stalled": {t.melding_id or "?": t.stage() for t in accepted if not t.done},
        "with_disclosures": len(with_disclosures),
        "disclosures_released": sum(len(t.releases) for t in done),
        "allowed_per_recipient": dict(sorted(allowed.items())),
        "accepted_per_s": len(accepted) / (last_accept - first) if last_accept > first else None,
        "end_to_end_per_s": len(done) / (last_done - first) if last_done > first else None,
        "latency": {
            "post_202": _spread([t.accepted - t.sent for t in accepted if t.accepted]),
            "post_recorded": _spread([t.recorded - t.sent for t in done if t.recorded]),
            "post_decided": _spread([t.decided - t.sent for t in done if t.decided]),
            "post_disclosed": _spread(
                [t.disclosed - t.sent for t in with_disclosures if t.disclosed]
            ),
            "post_released": _spread([t.released - t.sent for t in with_disclosures if t.released]),
        },
    }


def _num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def phase_table(title: str, phase: dict[str, Any]) -> str:
    refused = ", ".join(f"{n}× {code}" for code, n in phase["refused"].items()) or "none"
    lines = [
        f"### {title}",
        "",
        f"- sent {phase['sent']}, accepted (202) {phase['accepted']}, other answers: "
        f"{refused}; done {phase['done']}, not done in time {phase['incomplete']}"
        + "".join(f"\n  - {melding}: {stage}" for melding, stage in phase["stalled"].items()),
        f"- {phase['with_disclosures']} meldingen with disclosures, "
        f"{phase['disclosures_released']} disclosures released; allowed per recipient: "
        + ", ".join(f"{r} {n}" for r, n in phase["allowed_per_recipient"].items()),
        f"- accepted by intake: {_num(phase['accepted_per_s'])} meldingen/s; "
        f"**end to end: {_num(phase['end_to_end_per_s'])} meldingen/s**",
        "",
        "| latency | n | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, label in LATENCIES:
        spread = phase["latency"][key]
        if spread is None:
            lines.append(f"| {label} | 0 | — | — | — | — |")
            continue
        cells = " | ".join(_num(spread[k], 0) for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms"))
        lines.append(f"| {label} | {spread['n']} | {cells} |")
    return "\n".join(lines)


def raw_table(raw: dict[str, Any], pipeline_per_s: float | None) -> str:
    size = f"{raw['value_bytes']:,} B value + {raw['header_bytes']} B headers"
    ratio = (
        f"{pipeline_per_s / raw['produce_consume_per_s']:.4f}"
        if pipeline_per_s
        else "— (the pipeline did not finish)"
    )
    return "\n".join(
        [
            f"### Plain aiokafka on the same broker ({size}, acks=all, idempotent, SASL_SSL)",
            "",
            "| mode | records | records/s |",
            "|---|---:|---:|",
            f"| produce + consume, every send in flight | {raw['records']:,} | "
            f"{_num(raw['produce_consume_per_s'], 0)} |",
            f"| produce only (until the last ack) | {raw['records']:,} | "
            f"{_num(raw['produce_per_s'], 0)} |",
            f"| produce, each send awaited (`send_and_wait`) | {raw['awaited_records']:,} | "
            f"{_num(raw['awaited_per_s'], 0)} |",
            "",
            f"**Pipeline ÷ raw Kafka (burst end to end ÷ produce + consume): {ratio}**",
        ]
    )
