"""A dry run: a candidate policy put to every melding routing decided, compared with what
routing decided then.

The inputs are routing's history (`services.routing.history`): per melding the exact policy
input it asked and, per recipient, its decision. The baseline is that recorded decision, what
was actually decided and shared, not a fresh answer of the active policy: it needs one
evaluation per melding instead of two, and it stays what happened even after later
activations (the report names the revisions the recorded decisions came from).

The candidate is evaluated once per distinct input. Stored inputs are categorical facts, and
the only facts that tell two meldingen apart beyond them are per-melding ids and moments
(`PER_MELDING`: the melding id, `received_at`, `context.requested_at`); a million meldingen
are a few thousand distinct inputs. So inputs equal but for those fields form a group,
evaluated with its first member's input, and the answer stands for every melding of the
group; the report is the one evaluating every melding would give. That holds only for a
candidate whose decision cannot depend on those fields, which is checked, not assumed
(`per_melding.reads_per_melding_fields`): its Rego must name none of them, and each group of
two or more is evaluated a second time with its highest id and latest moments, the two
answers compared.
A candidate that fails either check is evaluated melding by melding, as before.

Evaluation is in batches: one `opa eval` over a JSON array of thousands of inputs (`QUERY`
asks rule `decisions` per input), one process per core. Every answer passes the decision
contract check routing applies (`engine._to_decisions`); one that breaks it refuses the
candidate (`CandidateBroken`), naming the melding by id only.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter, deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from services.common.models import RECIPIENTS, Decision
from services.common.settings import Settings
from services.policy.engine import ALL_RULE, PACKAGE, PolicyUnavailable, _to_decisions
from services.policy.per_melding import MELDING_ID, MOMENTS, facts_key, reads_per_melding_fields
from services.routing.history import PolicyInputs, RecordBroken, Stored, outcome

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


Plan = list[tuple[RecipientTally, list[Group]]]


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
        self.count_in(stored.melding_id, stored.policy_revision, self.plan(stored.decided, answers))

    def plan(self, recorded: dict[str, dict[str, Any]], answers: dict[str, dict[str, Any]]) -> Plan:
        """Per recipient the groups a melding with these recorded decisions and these answers
        of the candidate falls in (none when its decision does not change)."""
        found: Plan = []
        for recipient, tally in self.recipients.items():
            before, candidate = recorded[recipient], answers[recipient]
            basis = candidate["legal_basis"] if candidate["allow"] else before["legal_basis"]
            rule = candidate["rules"][0]
            groups = []
            for direction, detail in changes(before, candidate):
                key = (direction, rule, tuple(basis), detail)
                groups.append(
                    tally.groups.setdefault(key, Group(direction, rule, tuple(basis), detail))
                )
            found.append((tally, groups))
        return found

    def count_in(self, melding_id: str, revision: str, plan: Plan) -> None:
        self.meldingen += 1
        self.recorded_revisions[revision] += 1
        for tally, groups in plan:
            tally.decisions += 1
            tally.changed += bool(groups)
            for group in groups:
                group.melding_ids.append(melding_id)

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


class DryRunFailed(Exception):
    """A dry run that gives no report, the reason in Dutch: the candidate is refused, or
    (`history_damaged`) a stored record of routing's history does not open."""

    def __init__(self, message: str, history_damaged: bool = False) -> None:
        super().__init__(message)
        self.history_damaged = history_damaged


def over_history(
    settings: Settings,
    bundle: Path,
    opa: str,
    report: Report,
    workers: int | None = None,
    batch: int = BATCH,
) -> Report:
    """`dry_run` over the deployment's stored inputs (`PolicyInputs`); `DryRunFailed` when
    it gives no report."""
    inputs = PolicyInputs.of(settings)
    try:
        return dry_run(inputs, bundle, opa, report, workers, batch)
    except CandidateBroken as exc:
        raise DryRunFailed(f"kandidaat geweigerd: {exc}") from None
    except RecordBroken as exc:
        raise DryRunFailed(f"{exc}: de geschiedenis van routing is aangetast", True) from None
    finally:
        inputs.close()


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
    """Put the candidate `bundle` (a directory or a .tar.gz) to every stored input: once per
    distinct input when the candidate cannot tell meldingen apart by their ids, else to
    each (see the module's description)."""
    started = time.monotonic()
    parallel = max(1, workers or os.cpu_count() or 1)
    if reads_per_melding_fields(opa, bundle) or not _distinct(
        inputs, bundle, opa, report, parallel, batch
    ):
        _each(inputs, bundle, opa, report, parallel, batch)
    report.seconds = time.monotonic() - started
    return report


def _each(
    inputs: PolicyInputs, bundle: Path, opa: str, report: Report, parallel: int, batch: int
) -> None:
    """Evaluate the candidate on every stored input."""
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


def _tally(
    report: Report, batch: Iterable[Stored], answers: Future[list[dict[str, dict[str, Any]]]]
) -> None:
    for stored, answer in zip(batch, answers.result(), strict=True):
        report.add(stored, answer)


def _distinct(
    inputs: PolicyInputs, bundle: Path, opa: str, report: Report, parallel: int, batch: int
) -> bool:
    """Evaluate the candidate once per group of inputs equal but for `PER_MELDING`, and once
    more with the group's highest values in those fields (`Extremes`); False (nothing
    counted) when any of those answers differs from the group's first."""
    erased = 0
    groups: dict[str, int] = {}
    extremes: list[Extremes] = []
    recorded: dict[str, int] = {}
    decided: list[dict[str, dict[str, Any]]] = []
    meldingen: list[tuple[str, str, int, int]] = []
    for stored, passed_by in inputs.batches(batch):
        erased += passed_by
        for item in stored:
            group = groups.setdefault(facts_key(item.input), len(extremes))
            if group == len(extremes):
                extremes.append(Extremes(item))
            else:
                extremes[group].add(item)
            as_recorded = json.dumps(item.decided, sort_keys=True, separators=(",", ":"))
            index = recorded.setdefault(as_recorded, len(decided))
            if index == len(decided):
                decided.append(item.decided)
            meldingen.append((item.melding_id, item.policy_revision, group, index))
    probes = [(group, item) for group, e in enumerate(extremes) for item in e.others()]
    asked = [e.first for e in extremes] + [item for _, item in probes]
    answers = _evaluate_all(opa, bundle, asked, parallel, batch)
    if any(answers[group] != answers[len(extremes) + n] for n, (group, _) in enumerate(probes)):
        return False
    report.erased += erased
    plans: dict[tuple[int, int], Plan] = {}
    for melding_id, revision, group, index in meldingen:
        plan = plans.get((group, index))
        if plan is None:
            plan = plans[(group, index)] = report.plan(decided[index], answers[group])
        report.count_in(melding_id, revision, plan)
    return True


class Extremes:
    """A group's first member (the lowest melding id), whose input is evaluated for all, and
    the bounds of what differs per melding in the group: the highest melding id and the
    latest `received_at` and `requested_at`. `other` is the first's input with those: a
    decision that turns on an id, or on a moment, crossing some value between the first's
    and the group's highest answers the two differently."""

    def __init__(self, first: Stored) -> None:
        self.first = first
        self.size = 1
        self.last_id = first.melding_id
        self.latest = {part: _moment(first, part) for part in MOMENTS}

    def add(self, item: Stored) -> None:
        self.size += 1
        self.last_id = max(self.last_id, item.melding_id)
        for part, moment in self.latest.items():
            self.latest[part] = max(moment, _moment(item, part))

    def others(self) -> list[Stored]:
        if self.size == 1:
            return []
        asked = json.loads(json.dumps(self.first.input))
        asked[MELDING_ID[0]][MELDING_ID[1]] = self.last_id
        for (part, name), moment in self.latest.items():
            if name in asked.get(part, {}):
                asked[part][name] = moment
        return [replace(self.first, melding_id=self.last_id, input=asked)]


def _moment(item: Stored, part: tuple[str, str]) -> str:
    return str(item.input.get(part[0], {}).get(part[1], ""))


def _evaluate_all(
    opa: str, bundle: Path, items: list[Stored], parallel: int, batch: int
) -> list[dict[str, dict[str, Any]]]:
    """The candidate's answers for `items`, in order, `batch` per `opa eval`, in parallel."""
    chunks = [items[i : i + batch] for i in range(0, len(items), batch)]
    with ThreadPoolExecutor(parallel) as pool:
        return [a for found in pool.map(lambda c: evaluate(opa, bundle, c), chunks) for a in found]
