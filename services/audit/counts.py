"""Anonymous counters per year for the Cijfers: the victim's gender, each form of
exploitation, minor or adult, and the sum and number of known ages (for the average).

The ledger keeps no values of a melding, and a count per melding would be a melding's data
that outlives its erasure. So audit, which opens each melding anyway to compute its subject
pseudonyms (`services.audit.recorder`), adds what the melding contributes to its year's
counters in the transaction that appends the melding's entry (`Ledger.append_many`): an
event seen before appends nothing, so a redelivered melding is counted once.

The `figures` table holds `(year, dimension, category, tally)` and nothing else: no melding
id, no pseudonym, no time finer than the year. No row is kept per melding either, because a
row per melding could be linked back to its entry by insertion order (SQLite's rowid) or by
the transaction that wrote both (PostgreSQL's `xmin`). Instead every counter of the year is
written in each append that counts a melding, by 0 where the melding adds nothing: all rows
of a year are made together (the whole vocabulary at once) and all carry the same last
writer, so neither order nor `xmin` tells which counter a melding raised. The writer role
may UPDATE this one table; triggers refuse any change but a growing tally, and any DELETE.

Counts survive erasure and pruning: they are statistics of the processing, not data about
a person. Meldingen recorded before the counters existed are reported as "niet geteld".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import get_args

from services.audit.entry import Entry
from services.audit.store import Cursor, Store
from services.common.facts import MeldingReceived
from services.common.models import ExploitationForm, Melding, Victim

ADULT_AGE = 18
"""As `adult_age` in policies/kmt/config/data.json (a test keeps them equal)."""
GENDER, FORM, MINOR, AGE = "geslacht", "uitbuitingsvorm", "minderjarig", "leeftijd"
MINOR_CLASSES = ("minderjarig", "meerderjarig", "leeftijd onbekend")
AGE_SUM, AGE_KNOWN = "som", "aantal"
VOCABULARY: tuple[tuple[str, str], ...] = (
    *((GENDER, g) for g in get_args(Victim.model_fields["gender"].annotation)),
    *((FORM, f) for f in get_args(ExploitationForm)),
    *((MINOR, c) for c in MINOR_CLASSES),
    (AGE, AGE_SUM),
    (AGE, AGE_KNOWN),
)
"""Every counter of a year, in the order they are made and written."""
INSERT_COUNTER = (
    "INSERT INTO figures (year, dimension, category, tally) VALUES (?, ?, ?, 0)"
    " ON CONFLICT DO NOTHING"
)
ADD_TO_COUNTER = (
    "UPDATE figures SET tally = tally + ? WHERE year = ? AND dimension = ? AND category = ?"
)


@dataclass(frozen=True)
class Counted:
    """What one melding adds to its year's counters; kept nowhere itself."""

    gender: str
    forms: tuple[str, ...]
    age: int | None

    @classmethod
    def of(cls, received: MeldingReceived, melding: Melding | None) -> Counted:
        """From the event's facts (forms; the age, by `services.common.facts.victim_age`) and
        the opened melding (gender: "onbekend" when it was erased before audit got to it)."""
        return cls(
            gender=melding.victim.gender if melding else "onbekend",
            forms=tuple(dict.fromkeys(received.facts.exploitation_forms)),
            age=received.facts.victim.age,
        )

    def increments(self) -> Counter[tuple[str, str]]:
        if self.age is None:
            minor = "leeftijd onbekend"
        else:
            minor = "minderjarig" if self.age < ADULT_AGE else "meerderjarig"
        added = Counter([(GENDER, self.gender), (MINOR, minor), *((FORM, f) for f in self.forms)])
        if self.age is not None:
            added[(AGE, AGE_SUM)] += self.age
            added[(AGE, AGE_KNOWN)] += 1
        return added


Counts = Mapping[str, Counted] | None
"""What each melding among a batch of drafts adds to the counters, by its event id."""


def add_counts(cursor: Cursor, store: Store, counts: Counts, entries: Sequence[Entry]) -> None:
    """In the append transaction of new `entries`: their meldingen's contributions, each
    in the year its entry was recorded in (as the Cijfers count meldingen); every counter of
    that year is written, most by 0. Gender and forms are typed by the melding's schema, so
    each contribution is a counter of `VOCABULARY`."""
    years: dict[int, Counter[tuple[str, str]]] = {}
    for entry in entries:
        if counts and entry.type == "melding" and entry.event_id in counts:
            year = int(entry.recorded_at[:4])
            years.setdefault(year, Counter()).update(counts[entry.event_id].increments())
    for year, added in sorted(years.items()):
        cursor.executemany(store.sql(INSERT_COUNTER), [(year, *key) for key in VOCABULARY])
        cursor.executemany(
            store.sql(ADD_TO_COUNTER), [(added[key], year, *key) for key in VOCABULARY]
        )


def year_counts(store: Store, year: int) -> dict[str, Counter[str]]:
    """The counters of `year` by dimension (zeros left out), before suppression."""
    found: dict[str, Counter[str]] = {GENDER: Counter(), FORM: Counter(), MINOR: Counter()}
    found[AGE] = Counter()
    with store.reading() as cursor:
        rows = cursor.execute(
            store.sql("SELECT dimension, category, tally FROM figures WHERE year = ?"), [year]
        ).fetchall()
    for dimension, category, tally in rows:
        if tally:
            found.setdefault(str(dimension), Counter())[str(category)] = int(tally)
    return found
