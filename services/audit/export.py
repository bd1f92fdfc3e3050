"""Export of the trail as JSON lines, verifiable offline with only the public key.

Line kinds, in order:
- `header`: origin, verifier key, the anchor (chain and tree state) where the export starts,
  so a verifier can check a slice of the ledger without the entries before it, and the tree
  `size` where it ends;
- `entry`: one per ledger entry, the entry itself (for the hash) and a `verwerking` view of
  it shaped after the VNG Verwerkingenlogging API (the verifier recomputes that view from the
  entry, so it cannot be edited on its own);
- `checkpoint`: every signed checkpoint over the exported range; the last one covers the last
  exported entry;
- `prune`: every signed prune record of the ledger (where its live entries start), as the
  list `min_seq, prev_hash, frontier, archive_sha256, pruned_at, signature`.

An export of a period holds the period's entries and those after it up to the first
checkpoint that covers the period. When no checkpoint covers it yet, the export signs one
first: an entry after the last checkpoint could be rewritten with recomputed hashes
unnoticed, so the verifier refuses an export whose tail no signature covers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from services.audit.entry import GENESIS_HASH, LIST_FIELDS, values_of
from services.audit.ledger import ENTRY_HASH, Ledger
from services.audit.merkle import Frontier, leaf_hash
from services.audit.verify import verwerking


def _dump(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def export_lines(
    ledger: Ledger, *, since: str | None = None, until: str | None = None
) -> Iterator[str]:
    """The entries recorded in [since, until), and after them up to the first checkpoint
    that covers them all, with the signed checkpoints over that range."""
    span = ledger.seq_range(since, until)
    start, end = span if span else (ledger.size(), ledger.size())
    covering = next((c.size for c in ledger.checkpoints(since=end + 1)), None)
    if span and covering is None:
        ledger.checkpoint()  # no exported entry may be left outside a signature
        covering = next((c.size for c in ledger.checkpoints(since=end + 1)), None)
    stop = start if covering is None else covering
    prev_hash, frontier = _state_before(ledger, start)
    yield _dump(
        {
            "kind": "header",
            "verifier_key": ledger.verifier_key,
            "start_seq": start,
            "prev_hash": prev_hash,
            "frontier": frontier.to_json(),
            "size": stop,
        }
    )
    for row in ledger.scan(start, stop):
        entry = {
            name: json.loads(value) if name in LIST_FIELDS else value
            for name, value in values_of(row).items()
        }
        yield _dump({"kind": "entry", "entry": entry, "verwerking": verwerking(entry)})
    for signed in ledger.checkpoints(since=start):
        if signed.size <= stop:
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
