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
- in an export, a swapped, moved or duplicated line: that seq is named, and the entries are
  then checked in seq order, so the lines after it are not reported too;
- in an export, an edited `verwerking` view: it is recomputed from the hashed entry;
- in an export, a dropped last checkpoint: entries no signature covers, or fewer than the
  header's `size`, are reported (the exporter always ends with a covering checkpoint);
- entries deleted below a prune record that KMT did not sign: every prune record must carry
  a good signature by the checkpoint key, and the one where the entries start must match
  the start state (that record is named).
"""

from __future__ import annotations

import argparse
import json
import sys
from bisect import bisect_left
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
    "policy_proposed": "Indienen van een beleidsversie",
    "policy_dry_run": "Proefrun van een beleidsversie",
    "policy_approved": "Goedkeuren van een beleidsversie (vier ogen)",
    "policy_activated": "Activeren van een beleidsversie",
    "policy_rolled_back": "Terugdraaien naar de vorige beleidsversie",
    "policy_refused": "Weigeren van een stap in het beleidsbeheer",
    "alert": "Signaleren van acuut gevaar aan de dienstdoende KMT-medewerker",
}
READ_ACTIVITIES = {
    "sharing.reviews": "Inzien van de beoordelingswachtrij",
    "sharing.review": "Inzien van de inhoud om te beoordelen",
    "audit.case_links": "Nagaan of de casus al bekend is bij KMT",
}
"""`audit_access` entries of a staff read outside the trail, by what was read."""


def verwerking(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry in the vocabulary of the Verwerkingenlogging API (verwerkingsactie).

    Built from hashed entry fields only, so `verify_export` can recompute and check it."""
    retention = next(
        (o.removeprefix("retention:") for o in entry["obligations"] if o.startswith("retention:")),
        None,
    )
    return {
        "actieId": entry["event_id"],
        "verwerkingActiviteitId": entry["type"],
        "verwerkingsnaam": READ_ACTIVITIES.get(entry["event_type"], ACTIVITIES[entry["type"]]),
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
            result.problems.append(Problem(min(seq, expected), what))
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
        previous, expected = stored, max(expected, seq + 1)
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
    entries: list[tuple[int, dict[str, Any], Any]] = []
    notes: list[str] = []
    prunes: list[PruneRecord] = []
    found: list[Problem] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        item = json.loads(line)
        if item["kind"] == "header":
            header = item
        elif item["kind"] == "entry":
            entries.append((number, item["entry"], item.get("verwerking")))
        elif item["kind"] == "checkpoint":
            notes.append(item["note"])
        elif item["kind"] == "prune":
            try:
                prunes.append(PruneRecord.of(item["prune"]))
            except (TypeError, ValueError):
                found.append(Problem(None, "een opschoonrecord in de export is onleesbaar"))
    if header is None:
        return Verification(problems=[Problem(None, "export heeft geen header")])
    placed = _in_seq_order(entries, found)
    for _, entry, view in placed:
        wrong = _view_differs(entry, view)
        if wrong:
            found.append(Problem(entry["seq"], wrong))
    result = verify(
        [tuple(entry.get(name) for name in COLUMNS) for _, entry, _ in placed],
        notes,
        verifier_key,
        start_seq=int(header["start_seq"]),
        prev_hash=str(header["prev_hash"]),
        frontier=Frontier.from_json(header["frontier"]),
        prunes=prunes,
    )
    result.problems = found + result.problems + _tail_problems(result, header.get("size"))
    return result


def _in_seq_order(
    entries: list[tuple[int, dict[str, Any], Any]], problems: list[Problem]
) -> list[tuple[int, dict[str, Any], Any]]:
    """The export's entries by seq, each once. A duplicated line, and a line out of place
    (not in a longest run of lines in seq order), is named by its seq and line number."""
    first: dict[int, tuple[int, dict[str, Any], Any]] = {}
    unique: list[tuple[int, dict[str, Any], Any]] = []
    for number, entry, view in entries:
        seq = entry.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool):
            problems.append(Problem(None, f"regel {number}: entry zonder geldige seq"))
        elif seq in first:
            earlier, kept, _ = first[seq]
            same = "" if kept == entry else ", met andere inhoud"
            problems.append(
                Problem(
                    seq,
                    f"seq {seq} staat dubbel in de export (regel {earlier} en regel {number}"
                    f"{same})",
                )
            )
        else:
            first[seq] = (number, entry, view)
            unique.append((number, entry, view))
    seqs = [entry["seq"] for _, entry, _ in unique]
    in_place = _longest_run(seqs)
    for i, (number, _, _) in enumerate(unique):
        if i not in in_place:
            around = [f"na seq {seqs[i - 1]}"] if i > 0 else []
            around += [f"voor seq {seqs[i + 1]}"] if i + 1 < len(seqs) else []
            problems.append(
                Problem(
                    seqs[i],
                    f"seq {seqs[i]} staat niet op zijn plaats in de export (regel {number},"
                    f" {' en '.join(around)}; verwisseld of verplaatst)",
                )
            )
    return sorted(unique, key=lambda placed: int(placed[1]["seq"]))


def _longest_run(seqs: list[int]) -> set[int]:
    """Positions of a longest strictly increasing run of `seqs` (not necessarily adjacent):
    the lines that are in place; every other line was moved."""
    tails: list[int] = []  # the smallest last seq of a run of each length
    ends: list[int] = []  # ... and its position
    before = [-1] * len(seqs)
    for i, seq in enumerate(seqs):
        n = bisect_left(tails, seq)
        before[i] = ends[n - 1] if n else -1
        if n == len(tails):
            tails.append(seq)
            ends.append(i)
        else:
            tails[n], ends[n] = seq, i
    run, i = set(), ends[-1] if ends else -1
    while i >= 0:
        run.add(i)
        i = before[i]
    return run


def _view_differs(entry: dict[str, Any], view: Any) -> str | None:
    """Why the `verwerking` view of an export line is not the one its entry gives."""
    try:
        expected: dict[str, Any] = verwerking(entry)
    except (KeyError, TypeError, AttributeError):
        expected = {}
    if view == expected:
        return None
    shown = view if isinstance(view, dict) else {}
    names = sorted(k for k in expected.keys() | shown.keys() if expected.get(k) != shown.get(k))
    return (
        f"seq {entry['seq']}: de verwerking-weergave wijkt af van de entry"
        f" ({', '.join(names) or 'ontbreekt'})"
    )


def _tail_problems(result: Verification, claimed: Any) -> list[Problem]:
    """An export must end with a checkpoint over its last entry, at the header's `size`."""
    problems = []
    if result.unsigned:
        first = result.size - result.unsigned
        problems.append(
            Problem(
                first,
                f"seq {first} t/m {result.size - 1} vallen onder geen ondertekend checkpoint"
                " in de export: het laatste checkpoint ontbreekt",
            )
        )
    if claimed is not None and claimed != result.size:
        why = (
            "entries en checkpoint aan het eind ontbreken"
            if isinstance(claimed, int) and claimed > result.size
            else "de export is na het exporteren veranderd"
        )
        problems.append(
            Problem(
                result.size,
                f"de header noemt boomgrootte {claimed}, maar de entries in de export lopen tot"
                f" boomgrootte {result.size}: {why}",
            )
        )
    return problems


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
