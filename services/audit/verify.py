"""Verify a ledger: every entry's hash, the chain, and every signed checkpoint's root.

Works on a live ledger (`kmt audit verify`) and, standalone, on an export with only the
public verifier key: `python -m services.audit.verify export.jsonl --key KEY`. It uses the
standard library and `cryptography` only.

What it finds, and where it points:
- an edited entry: its own hash no longer matches its content (that seq);
- a deleted entry: a gap in seq, or the next entry's `prev_hash` no longer links;
- an inserted or reordered entry: its hash binds its seq and predecessor, so it breaks there;
- a rewritten stretch with recomputed hashes: the first signed checkpoint after it has
  another root (the range since the previous checkpoint is named);
- a truncated tail: a signed checkpoint covers entries that are no longer there;
- entries deleted below a prune record that KMT did not sign: every prune record must carry
  a good signature by the checkpoint key, and the one where the entries start must match
  the start state (that record is named).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.audit.checkpoint import BadCheckpoint, open_note
from services.audit.entry import COLUMNS, POSITION, row_hash
from services.audit.merkle import Frontier, leaf_hash
from services.audit.prunes import PruneRecord, problem


@dataclass(frozen=True)
class Problem:
    seq: int | None
    message: str


@dataclass
class Verification:
    entries: int = 0
    checkpoints: int = 0
    prunes: int = 0
    size: int = 0
    """The tree size reached: the seq after the last entry checked."""
    unsigned: int = 0
    """Entries after the last checkpoint: chain-checked, not yet covered by a signature."""
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


SEQ, PREV_HASH, ENTRY_HASH = POSITION["seq"], POSITION["prev_hash"], POSITION["entry_hash"]


def verify(
    rows: Iterable[Sequence[Any]],
    notes: Iterable[str],
    verifier_key: str,
    *,
    start_seq: int = 0,
    prev_hash: str = "0" * 64,
    frontier: Frontier | None = None,
    prunes: Iterable[PruneRecord] = (),
) -> Verification:
    """Check the entry `rows` (tuples in `COLUMNS` order, by seq, from `start_seq`) against
    the signed checkpoint `notes`, and the signature of every prune record in `prunes`."""
    result = Verification()
    for record in prunes:
        result.prunes += 1
        wrong = problem(record, verifier_key)
        if wrong is None and record.min_seq == start_seq:
            wrong = _start_differs(record, prev_hash, frontier)
        if wrong:
            result.problems.append(Problem(record.min_seq, wrong))
    signed: dict[int, bytes] = {}
    last_size = start_seq
    for note in notes:
        result.checkpoints += 1
        try:
            checkpoint = open_note(note, verifier_key)
        except BadCheckpoint as exc:
            result.problems.append(Problem(None, f"checkpoint: {exc}"))
            continue
        signed[checkpoint.size] = checkpoint.root
    tree = frontier.copy() if frontier else Frontier()
    if tree.size != start_seq:
        result.problems.append(Problem(start_seq, "beginstand van de boom past niet bij start_seq"))
    if start_seq in signed and tree.root() != signed[start_seq]:
        result.problems.append(Problem(start_seq, "beginstand wijkt af van de checkpoint"))
    expected, previous = start_seq, prev_hash
    for row in rows:
        seq = row[SEQ]
        if seq != expected:
            what = (
                f"seq {expected}..{seq - 1} ontbreken (verwijderd)"
                if seq > expected
                else f"seq {seq} staat niet op zijn plaats (ingevoegd of verplaatst)"
            )
            result.problems.append(Problem(expected, what))
        stored = row[ENTRY_HASH]
        try:
            recomputed = row_hash(row)
        except (TypeError, ValueError):
            recomputed = None
        if recomputed != stored:
            result.problems.append(Problem(seq, f"seq {seq}: inhoud past niet bij de entry_hash"))
        if row[PREV_HASH] != previous:
            result.problems.append(
                Problem(seq, f"seq {seq}: prev_hash sluit niet aan op de vorige entry")
            )
        previous, expected = stored, max(expected, seq) + 1
        try:
            tree.append(leaf_hash(bytes.fromhex(stored)))
        except (TypeError, ValueError):  # not even a hash: the checkpoint over it fails
            tree.append(leaf_hash(b""))
        if tree.size in signed:
            if tree.root() != signed[tree.size]:
                result.problems.append(
                    Problem(
                        last_size,
                        f"checkpoint {tree.size}: Merkle-root klopt niet; entries tussen seq "
                        f"{last_size} en {tree.size - 1} zijn gewijzigd",
                    )
                )
            last_size = tree.size
    result.size = tree.size
    result.entries = tree.size - start_seq
    result.unsigned = tree.size - last_size
    beyond = sorted(s for s in signed if s > tree.size)
    if beyond:
        result.problems.append(
            Problem(
                tree.size,
                f"checkpoint {beyond[-1]} dekt entries tot seq {beyond[-1] - 1}, maar de laatste "
                f"entry is seq {tree.size - 1}: entries aan het eind ontbreken",
            )
        )
    return result


def _start_differs(record: PruneRecord, prev_hash: str, frontier: Frontier | None) -> str | None:
    start = (frontier or Frontier()).to_json()
    if record.prev_hash != prev_hash or json.loads(record.frontier) != start:
        return f"{record.describe()}: beginstand wijkt af van het ondertekende record"
    return None


def verify_export(lines: Iterable[str], verifier_key: str) -> Verification:
    """Verify an export (`kmt audit export`) with nothing but the public key."""
    header: dict[str, Any] | None = None
    entries: list[tuple[Any, ...]] = []
    notes: list[str] = []
    prunes: list[PruneRecord] = []
    unreadable: list[Problem] = []
    for line in lines:
        if not line.strip():
            continue
        item = json.loads(line)
        if item["kind"] == "header":
            header = item
        elif item["kind"] == "entry":
            entries.append(tuple(item["entry"].get(name) for name in COLUMNS))
        elif item["kind"] == "checkpoint":
            notes.append(item["note"])
        elif item["kind"] == "prune":
            try:
                prunes.append(PruneRecord.of(item["prune"]))
            except (TypeError, ValueError):
                unreadable.append(Problem(None, "een opschoonrecord in de export is onleesbaar"))
    if header is None:
        return Verification(problems=[Problem(None, "export heeft geen header")])
    result = verify(
        entries,
        notes,
        verifier_key,
        start_seq=int(header["start_seq"]),
        prev_hash=str(header["prev_hash"]),
        frontier=Frontier.from_json(header["frontier"]),
        prunes=prunes,
    )
    result.problems += unreadable
    return result


def describe(result: Verification) -> str:
    if result.ok:
        return (
            f"in orde: {result.entries} entries, {result.checkpoints} checkpoints en"
            f" {result.prunes} opschoningen gecontroleerd (boomgrootte {result.size};"
            f" {result.unsigned} entries nog zonder checkpoint)"
        )
    lines = [f"NIET IN ORDE: {len(result.problems)} probleem/problemen gevonden"]
    lines += [f"  - {p.message}" for p in result.problems]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Controleer een export van de audittrail.")
    parser.add_argument("export", help="JSON-lines-export (kmt audit export)")
    parser.add_argument("--key", required=True, help="verifier key (kmt audit public-key)")
    args = parser.parse_args(argv)
    with open(args.export, encoding="utf-8") as handle:
        result = verify_export(handle, args.key)
    print(describe(result))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
