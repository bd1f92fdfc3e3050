"""What the reporter may learn of its melding, read from the ledger (issue 12 §4).

After each batch, audit works out for every melding the batch touched which steps the ledger
shows it reached, and publishes one `melding.status` event per step on `kmt.status.v1`, the
topic intake reads: `assessed` once the decisions for all three recipients are recorded (at
the last of them), `alert` once an acute-danger alert is recorded, `closed` once it is
assessed and every disclosure its decisions allowed was released or rejected (no review and
no receipt still waits). The event id is derived from the melding and the step, so a
redelivery, or the same step found again in a later batch, is the same event and intake keeps
the first. No recipient and no decision leaves audit this way: no policy rule says a reporter
may be told them, so the reporter is told neither.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from services.audit.entry import Entry
from services.audit.ledger import Ledger, Query
from services.common.events import MELDING_STATUS, CloudEvent, derived_id, new_event
from services.common.models import RECIPIENTS
from services.common.status_event import MeldingStatus, Step

SOURCE = "kmt/audit"
STEP_ENTRIES = ("decision", "disclosure", "release", "review", "alert")
"""The entry types that move a melding on; others (reads, acknowledgements) do not."""
MAX_ENTRIES = 10_000


def status_events(ledger: Ledger, melding_ids: Iterable[str]) -> list[CloudEvent]:
    """The status events of these meldingen (those a batch touched), from their entries."""
    wanted = list(dict.fromkeys(melding_ids))
    if not wanted:
        return []
    found = ledger.search(Query(melding_ids=wanted, types=STEP_ENTRIES, limit=MAX_ENTRIES))
    by_melding: dict[str, list[Entry]] = defaultdict(list)
    for entry in found:
        by_melding[str(entry.melding_id)].append(entry)
    return [
        _event(melding_id, step, at)
        for melding_id, trail in by_melding.items()
        for step, at in steps(trail).items()
    ]


def steps(trail: list[Entry]) -> dict[Step, str]:
    """The steps a melding's entries (in seq order) show, each with when it was reached."""
    reached: dict[Step, str] = {}
    decided = {e.recipient: e for e in trail if e.type == "decision"}
    alerts = [e for e in trail if e.type == "alert"]
    if alerts:
        reached["alert"] = alerts[0].recorded_at
    if len(decided) < len(RECIPIENTS):
        return reached
    reached["assessed"] = max(e.recorded_at for e in decided.values())
    ended = {e.disclosure_id: e.recorded_at for e in trail if e.type == "release"}
    ended |= {
        e.disclosure_id: e.recorded_at for e in trail if e.type == "review" and e.allow is False
    }
    made = {e.disclosure_id: e.recipient for e in trail if e.type == "disclosure"}
    allowed = {r for r, e in decided.items() if e.allow}
    if allowed <= set(made.values()) and set(made) <= set(ended):
        reached["closed"] = max([reached["assessed"], *ended.values()])
    return reached


def _event(melding_id: str, step: Step, at: str) -> CloudEvent:
    return new_event(
        id=derived_id(melding_id, "status", step),
        type=MELDING_STATUS,
        source=SOURCE,
        subject=melding_id,
        data=MeldingStatus(
            melding_id=UUID(melding_id),
            step=step,
            at=datetime.fromisoformat(at.replace("Z", "+00:00")),
        ),
    )
