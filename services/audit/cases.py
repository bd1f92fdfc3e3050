"""Is this case already known? The melding index a KMT worker asks for earlier meldingen
about the same victim or the same suspect (issue 12 §3).

Audit holds it, because audit already holds all it needs and nobody else does: the subject
pseudonyms it computes for access requests (`services.audit.pseudonym`: HMAC-SHA256 under
audit's own subject key, which no partner and no other service has, of the BSN or of the
normalised name with the birth date, the role bound in), the `subjects` index from pseudonym
to melding, and the decisions in the ledger. Putting the index anywhere else would hand a
second service a key or a copy of those pseudonyms. The same key serves both uses: both are
KMT's own look-ups of a data subject, and a second key would mean a second index of the same
people, not less data.

The index adds one row per melding, in the same transaction as the melding's ledger entry
(`Ledger.append_many`), from the facts on its event: when it was received, the reporter's
type and the municipality. Which of a melding's pseudonyms is the victim's and which a
suspect's is in its ledger entry (`fields`, beside `subject_pseudonyms`). A look-up starts
from those pseudonyms and never from a name or BSN typed in: matching is exact, so it finds
the same person only where the BSN, or the name and birth date after normalisation (case,
accents, spacing), are the same (see the README for what it does not catch).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from services.audit.entry import Entry
from services.audit.store import Cursor, Store
from services.common.facts import MeldingReceived

INSERT_SUBJECT = (
    "INSERT INTO subjects (pseudonym, melding_id, seq) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
)
INSERT_CASE = (
    "INSERT INTO cases (melding_id, seq, received_at, reporter_type, municipality)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
SELECT_CASES = "SELECT melding_id, seq, received_at, reporter_type, municipality FROM cases"
SHOWN_DECISIONS = ("decision", "review", "alert")
"""The entries of an earlier melding that say what was decided about it."""
Role = Literal["victim", "suspect", "unknown"]


@dataclass(frozen=True)
class CaseFacts:
    """A melding as the index keeps it, from the facts on its event (no content)."""

    melding_id: str
    received_at: str
    reporter_type: str
    municipality: str

    @classmethod
    def of(cls, received: MeldingReceived) -> CaseFacts:
        return cls(
            melding_id=str(received.melding_id),
            received_at=received.received_at.isoformat(),
            reporter_type=received.facts.reporter.type,
            municipality=received.facts.municipality,
        )

    def row(self, seq: int) -> tuple[Any, ...]:
        return (self.melding_id, seq, self.received_at, self.reporter_type, self.municipality)


Cases = Mapping[str, CaseFacts] | None
"""The case index's rows of the meldingen among a batch of drafts, by their event id."""


def index_subjects(cursor: Cursor, store: Store, cases: Cases, entries: Sequence[Entry]) -> None:
    """The look-up indexes of new `entries`, in their append transaction: `subjects` (each
    pseudonym to its melding, for access requests and case links) and a melding's `cases`
    row."""
    subjects = [
        (p, e.melding_id, e.seq) for e in entries if e.melding_id for p in e.subject_pseudonyms
    ]
    if subjects:
        cursor.executemany(store.sql(INSERT_SUBJECT), subjects)
    rows = [cases[e.event_id].row(e.seq) for e in entries if cases and e.event_id in cases]
    if rows:
        cursor.executemany(store.sql(INSERT_CASE), rows)


def role_of(path: str | None) -> Role:
    """Whom a pseudonym of a melding entry stands for, by the path recorded beside it."""
    if path == "victim":
        return "victim"
    return "suspect" if path and path.startswith("suspects") else "unknown"


@dataclass(frozen=True)
class Known:
    """An earlier melding about the same person, and what was decided about it."""

    melding_id: str
    received_at: str
    reporter_type: str
    municipality: str
    same: list[Role]
    """Whom it shares: the victim, a suspect (`unknown` when the melding asked about was
    recorded before the ledger kept whom each pseudonym stands for)."""
    decisions: list[dict[str, Any]]


def earlier_meldingen(store: Store, melding_id: str) -> list[Known] | None:
    """The earlier meldingen sharing the victim's or a suspect's pseudonym with `melding_id`,
    newest first, leaving out erased ones; None when the melding is not in the index (never
    recorded, recorded before the index existed, or erased)."""
    with store.reading() as cursor:
        return _earlier(store, cursor, melding_id)


def _earlier(store: Store, cursor: Cursor, melding_id: str) -> list[Known] | None:
    any_of = store.any_of

    def query(text: str, params: Sequence[Any]) -> list[Any]:
        return list(cursor.execute(store.sql(text), list(params)).fetchall())

    own = query(f"{SELECT_CASES} WHERE melding_id = ?", [melding_id])
    entry = query(
        "SELECT subject_pseudonyms, fields FROM entries WHERE type = 'melding' AND melding_id = ?",
        [melding_id],
    )
    erased = query("SELECT 1 FROM entries WHERE type = 'erasure' AND melding_id = ?", [melding_id])
    if not own or not entry or erased:
        return None
    own_seq = own[0][1]
    found, paths = json.loads(entry[0][0]), json.loads(entry[0][1])
    roles = [role_of(paths[i] if len(paths) == len(found) else None) for i in range(len(found))]
    matched: dict[str, set[Role]] = {}
    if found:
        condition, params = any_of("pseudonym", found)
        rows = query(f"SELECT pseudonym, melding_id FROM subjects WHERE {condition}", params)
        for pseudonym, other in rows:
            matched.setdefault(str(other), set()).add(roles[found.index(pseudonym)])
    matched.pop(melding_id, None)
    if not matched:
        return []
    condition, ids = any_of("melding_id", list(matched))
    cases = {
        r[0]: r for r in query(f"{SELECT_CASES} WHERE {condition} AND seq < ?", [*ids, own_seq])
    }
    types, kinds = any_of("type", [*SHOWN_DECISIONS, "erasure"])
    decided: dict[str, list[dict[str, Any]]] = {m: [] for m in cases}
    for other, kind, recipient, allow, at in query(
        f"SELECT melding_id, type, recipient, allow, recorded_at FROM entries WHERE {condition}"
        f" AND {types} ORDER BY seq",
        [*ids, *kinds],
    ):
        if kind == "erasure":
            decided.pop(other, None)
        elif other in decided:
            verdict = None if allow is None else bool(allow)
            decided[other].append(
                {"type": kind, "recipient": recipient, "allow": verdict, "recorded_at": at}
            )
    return [
        Known(
            melding_id=m,
            received_at=str(cases[m][2]),
            reporter_type=str(cases[m][3]),
            municipality=str(cases[m][4]),
            same=sorted(matched[m]),
            decisions=decided[m],
        )
        for m in sorted(decided, key=lambda m: str(cases[m][2]), reverse=True)
    ]
