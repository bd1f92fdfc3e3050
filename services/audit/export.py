"""Export of the trail as JSON lines, verifiable offline with only the public key.

Line kinds, in order:
- `header`: origin, verifier key, and the anchor (chain and tree state) where the export
  starts, so a verifier can check a slice of the ledger without the entries before it;
- `entry`: one per ledger entry, the entry itself (for the hash) and a `verwerking` view of
  it shaped after the VNG Verwerkingenlogging API;
- `checkpoint`: every signed checkpoint over the exported range;
- `prune`: every signed prune record of the ledger (where its live entries start), as the
  list `min_seq, prev_hash, frontier, archive_sha256, pruned_at, signature`.

An export of a period holds the period's entries and those after it up to the first
checkpoint that covers the period (entries not yet under a checkpoint are included but can
only be chain-checked).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from services.audit.entry import GENESIS_HASH, LIST_FIELDS
from services.audit.ledger import ENTRY_HASH, Ledger, values_of
from services.audit.merkle import Frontier, leaf_hash

ACTIVITIES = {
    "melding": "Registreren melding mensenhandel",
    "decision": "Besluiten over gegevensdeling",
    "disclosure": "Verstrekken van gegevens aan een partner",
    "release": "Vrijgeven van een verstrekking",
    "review": "Menselijke beoordeling van een verstrekking",
    "ack": "Ontvangstbevestiging van een partner",
    "policy_change": "Wijzigen van het deelbeleid",
    "audit_access": "Inzien van de audittrail",
    "erasure": "Wissen van een melding (sleutel vernietigd)",
}


def _dump(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def verwerking(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry in the vocabulary of the Verwerkingenlogging API (verwerkingsactie)."""
    retention = next(
        (o.removeprefix("retention:") for o in entry["obligations"] if o.startswith("retention:")),
        None,
    )
    return {
        "actieId": entry["event_id"],
        "verwerkingActiviteitId": entry["type"],
        "verwerkingsnaam": ACTIVITIES[entry["type"]],
        "verwerkingId": entry["trace_id"],
        "vertrouwelijkheid": "vertrouwelijk",
        "bewaartermijn": retention,
        "uitvoerder": entry["actor"],
        "systeem": "kmt-signal-exchange",
        "ontvanger": entry["recipient"],
        "tijdstip": entry["recorded_at"],
        "grondslag": entry["legal_basis"],
        "doel": entry["purpose"],
        "verwerkteObjecten": [
            {
                "objecttype": "melding",
                "soortObjectId": "melding_id",
                "objectId": entry["melding_id"],
                "betrokkenheid": "slachtoffer",
                "betrokkenePseudoniemen": entry["subject_pseudonyms"],
                "verwerkteSoortenGegevens": [{"soortGegeven": f} for f in entry["fields"]],
            }
        ]
        if entry["melding_id"]
        else [],
    }


def export_lines(
    ledger: Ledger, *, since: str | None = None, until: str | None = None
) -> Iterator[str]:
    """The entries recorded in [since, until), and after them up to the first checkpoint
    that covers them all, with the signed checkpoints over that range."""
    span = ledger.seq_range(since, until)
    start, end = span if span else (ledger.size(), ledger.size())
    covering = next((c.size for c in ledger.checkpoints(since=end + 1)), None)
    prev_hash, frontier = _state_before(ledger, start)
    yield _dump(
        {
            "kind": "header",
            "verifier_key": ledger.verifier_key,
            "start_seq": start,
            "prev_hash": prev_hash,
            "frontier": frontier.to_json(),
        }
    )
    for row in ledger.scan(start, covering):
        entry = {
            name: json.loads(value) if name in LIST_FIELDS else value
            for name, value in values_of(row).items()
        }
        yield _dump({"kind": "entry", "entry": entry, "verwerking": verwerking(entry)})
    for signed in ledger.checkpoints(since=start):
        if covering is None or signed.size <= covering:
            yield _dump({"kind": "checkpoint", "note": signed.note})
    for record in ledger.prune_records():
        yield _dump({"kind": "prune", "prune": list(record.as_row())})


def _state_before(ledger: Ledger, start: int) -> tuple[str, Frontier]:
    """Chain hash and tree frontier just before `start`, from the anchor and live entries."""
    anchor = ledger.anchor()
    frontier = anchor.frontier.copy() if anchor else Frontier()
    prev_hash = anchor.prev_hash if anchor else GENESIS_HASH
    for row in ledger.scan(frontier.size, start):
        prev_hash = row[ENTRY_HASH]
        frontier.append(leaf_hash(bytes.fromhex(prev_hash)))
    return prev_hash, frontier
