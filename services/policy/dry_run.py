"""A dry run: a candidate policy put to every melding routing decided, compared with what
routing decided then.

The inputs are routing's history (`services.routing.history`): per melding the exact policy
input it asked and, per recipient, its decision. The baseline is that recorded decision, what
was actually decided and shared, not a fresh answer of the active policy: it needs one
evaluation per melding instead of two, and it stays what happened even after later
activations (the report names the revisions the recorded decisions came from).

The candidate is evaluated in batches: one `opa eval` over a JSON array of thousands of inputs
(`QUERY` asks rule `decisions` per input), several processes at once. Every answer passes the
decision contract check routing applies (`engine._to_decisions`); one that breaks it refuses
the candidate (`CandidateBroken`), naming the melding by id only.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter, deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.common.models import RECIPIENTS, Decision
from services.policy.engine import ALL_RULE, PACKAGE, PolicyUnavailable, _to_decisions
from services.routing.history import PolicyInputs, Stored, outcome

QUERY = (
    f"{{i: d | some i, x in input.items; d := data.{PACKAGE.replace('/', '.')}.{ALL_RULE}"
    " with input as x}"
)
BATCH = 2000
DIRECTIONS = ("deny_to_allow", "fields_added", "allow_to_deny", "fields_removed",
              "obligations_changed")  # fmt: skip
ATTENTION = frozenset({"deny_to_allow", "fields_added"})
"""Changes that share more than before: listed first, marked as needing attention."""


class CandidateBroken(ValueError):
    """The candidate cannot be evaluated, or an answer breaks the decision contract; the
    message says why in Dutch (melding ids only)."""


@dataclass
class Group:
    """The meldingen whose decision for one recipient changes the same way."""

    direction: str
    rule: str
    legal_basis: tuple[str, ...]
    detail: tuple[str, ...]
    """The fields shared, added or removed; for obligations `+x` and `-y`."""
    melding_ids: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "attention": self.direction in ATTENTION,
            "rule": self.rule,
            "legal_basis": list(self.legal_basis),
            "detail": list(self.detail),
            "count": len(self.melding_ids),
            "melding_ids": self.melding_ids,
        }


@dataclass
class RecipientTally:
    decisions: int = 0
    changed: int = 0
    groups: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], Group] = field(
        default_factory=dict
    )

    def ordered(self) -> list[Group]:
        """Attention first, then by direction, then the largest groups first."""
        return sorted(
            self.groups.values(),
            key=lambda g: (DIRECTIONS.index(g.direction), -len(g.melding_ids), g.rule, g.detail),
        )

    def count(self, direction: str) -> int:
        return sum(len(g.melding_ids) for g in self.groups.values() if g.direction == direction)


@dataclass
class Report:
    candidate: str
    policy_revision: str
    meldingen: int = 0
    erased: int = 0
    seconds: float = 0.0
    recorded_revisions: Counter[str] = field(default_factory=Counter)
    recipients: dict[str, RecipientTally] = field(
        default_factory=lambda: {r: RecipientTally() for r in RECIPIENTS}
    )

    def add(self, stored: Stored, answers: dict[str, dict[str, Any]]) -> None:
        self.meldingen += 1
        self.recorded_revisions[stored.policy_revision] += 1
        for recipient, tally in self.recipients.items():
            recorded, candidate = stored.decided[recipient], answers[recipient]
            tally.decisions += 1
            found = changes(recorded, candidate)
            tally.changed += bool(found)
            basis = candidate["legal_basis"] if candidate["allow"] else recorded["legal_basis"]
            rule = candidate["rules"][0]
            for direction, detail in found:
                key = (direction, rule, tuple(basis), detail)
                group = tally.groups.setdefault(key, Group(direction, rule, tuple(basis), detail))
                group.melding_ids.append(stored.melding_id)

    def as_json(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "policy_revision": self.policy_revision,
            "compared_with": "recorded_decisions",
            "recorded_revisions": dict(self.recorded_revisions),
            "meldingen": self.meldingen,
            "erased_passed_by": self.erased,
            "seconds": round(self.seconds, 3),
            "recipients": {
                recipient: {
                    "decisions": tally.decisions,
                    "changed": tally.changed,
                    "by_direction": {d: tally.count(d) for d in DIRECTIONS},
                    "changes": [group.as_json() for group in tally.ordered()],
                }
                for recipient, tally in self.recipients.items()
            },
        }


def changes(
    recorded: dict[str, Any], candidate: dict[str, Any]
) -> list[tuple[str, tuple[str, ...]]]:
    """How the candidate's decision differs from the recorded one: (direction, detail)."""
    if not recorded["allow"]:
        return [("deny_to_allow", tuple(candidate["fields"]))] if candidate["allow"] else []
    if not candidate["allow"]:
        return [("allow_to_deny", tuple(recorded["fields"]))]
    found: list[tuple[str, tuple[str, ...]]] = []
    added = sorted(set(candidate["fields"]) - set(recorded["fields"]))
    removed = sorted(set(recorded["fields"]) - set(candidate["fields"]))
    if added:
        found.append(("fields_added", tuple(added)))
    if removed:
        found.append(("fields_removed", tuple(removed)))
    before, after = set(recorded["obligations"]), set(candidate["obligations"])
    if before != after:
        detail = [f"+{o}" for o in sorted(after - before)] + [
            f"-{o}" for o in sorted(before - after)
        ]
        found.append(("obligations_changed", tuple(detail)))
    return found


def decide_batch(
    opa: str, bundle: Path, inputs: list[dict[str, Any]], melding_ids: list[str]
) -> list[list[Decision]]:
    """The decisions of the policy `bundle` for each input (rule `decisions`, one `opa eval`
    for all), every answer checked by the decision contract."""
    stdin = json.dumps({"items": inputs}, separators=(",", ":"))
    result = subprocess.run(
        [opa, "eval", "--format", "raw", "--bundle", str(bundle), "--stdin-input", QUERY],
        input=stdin, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        detail = " ".join(result.stderr.split())[:600] or f"exit {result.returncode}"
        raise CandidateBroken(f"het beleid geeft een fout bij het beslissen: {detail}")
    try:
        answers = json.loads(result.stdout) if result.stdout.strip() else {}
    except ValueError:
        raise CandidateBroken("opa eval gaf geen JSON") from None
    found = []
    for index, melding_id in enumerate(melding_ids):
        answer = answers.get(str(index)) if isinstance(answers, dict) else None
        try:
            found.append(_to_decisions(answer))
        except PolicyUnavailable as exc:
            raise CandidateBroken(f"melding {melding_id}: {exc}") from None
    return found


def evaluate(opa: str, bundle: Path, batch: list[Stored]) -> list[dict[str, dict[str, Any]]]:
    """The candidate's decisions for each stored input, per recipient as `outcome`s."""
    decided = decide_batch(opa, bundle, [s.input for s in batch], [s.melding_id for s in batch])
    return [{d.recipient: outcome(d) for d in decisions} for decisions in decided]


def dry_run(
    inputs: PolicyInputs,
    bundle: Path,
    opa: str,
    report: Report,
    workers: int | None = None,
    batch: int = BATCH,
) -> Report:
    """Put the candidate `bundle` (a directory or a .tar.gz) to every stored input."""
    started = time.monotonic()
    parallel = max(1, workers or os.cpu_count() or 1)
    with ThreadPoolExecutor(parallel) as pool:
        pending: deque[tuple[list[Stored], Future[list[dict[str, dict[str, Any]]]]]] = deque()
        for stored, erased in inputs.batches(batch):
            report.erased += erased
            if stored:
                pending.append((stored, pool.submit(evaluate, opa, bundle, stored)))
            while len(pending) > 2 * parallel:
                _tally(report, *pending.popleft())
        while pending:
            _tally(report, *pending.popleft())
    report.seconds = time.monotonic() - started
    return report


def _tally(
    report: Report, batch: Iterable[Stored], answers: Future[list[dict[str, dict[str, Any]]]]
) -> None:
    for stored, answer in zip(batch, answers.result(), strict=True):
        report.add(stored, answer)
