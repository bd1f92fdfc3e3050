"""Aard en omvang: the year's figures KMT publishes, computed from what the ledger holds.

The ledger records ids, recipients, municipalities, decisions with their rules and keyed
pseudonyms; never a melding's values. So these figures are what can be counted from it:
meldingen; persons (victims: a melding entry records whom each of its keyed pseudonyms stands
for, and meldingen sharing a victim's pseudonym are one person; a victim without BSN or name
and birth date counts once per melding); by reporter type (from the case index audit keeps
beside the ledger, `cases.py`); by municipality (the gemeente each melding's decisions
concern); how often each recipient was to be informed (decisions to share). The victim's
gender, the forms of exploitation, minors and the average age come from the anonymous
counters audit keeps per year (`counts.py`); meldingen recorded before those existed are
"niet geteld".

Every count under the threshold is suppressed (`None`, shown as "< 5") before it leaves
the audit service, so no cell singles out a person; where a hidden cell could be computed
back from the total and the cells shown, more cells are hidden (secondary suppression,
`table`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from services.audit.counts import AGE, AGE_KNOWN, AGE_SUM, FORM, GENDER, MINOR, year_counts
from services.audit.entry import Entry
from services.audit.ledger import Ledger, Query

TYPES = ("melding", "decision")
PAGE = 5000
DEFAULT_THRESHOLD = 5
NOT_COUNTED = "niet geteld"
"""Meldingen recorded before audit kept the counters."""
RECIPIENTS = {"riec": "RIEC", "gemeente_veiligheid": "gemeente", "veilig_thuis": "Veilig Thuis"}
REPORTERS = {
    "gemeente": "gemeente",
    "zorg_wijkteam": "zorg/wijkteam",
    "politie": "politie",
    "slachtoffer_betrokkene": "slachtoffer/betrokkene",
    "comensha": "CoMensha",
    "riec": "anders",
    "veilig_thuis": "anders",
    "anders": "anders",
}
"""KMT's jaarverslag categories of reporter."""
CHUNK = 500


@dataclass
class Tally:
    """What one year's entries add up to, before suppression."""

    meldingen: set[str] = field(default_factory=set)
    victims: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Per melding, its victim's pseudonyms (BSN; name and birth date)."""
    reporter: dict[str, str] = field(default_factory=dict)
    municipality: dict[str, str] = field(default_factory=dict)
    allowed: Counter[str] = field(default_factory=Counter)

    def add(self, entry: Entry) -> None:
        melding = entry.melding_id
        if melding is None:
            return
        if entry.type == "melding":
            self.meldingen.add(melding)
            if len(entry.fields) == len(entry.subject_pseudonyms):  # whom each stands for
                paths = zip(entry.subject_pseudonyms, entry.fields, strict=True)
                self.victims[melding] = tuple(p for p, path in paths if path == "victim")
        elif entry.type == "decision":
            if entry.municipality:
                self.municipality.setdefault(melding, entry.municipality)
            recipient = RECIPIENTS.get(entry.recipient or "", entry.recipient or "onbekend")
            if entry.allow:
                self.allowed[recipient] += 1

    def tables(self) -> dict[str, Counter[str]]:
        """Counts per table, meldingen of the year only."""
        ids = self.meldingen
        return {
            "type melder": Counter(
                REPORTERS.get(self.reporter.get(m, ""), "onbekend") for m in ids
            ),
            "gemeente": Counter(self.municipality.get(m, "onbekend") for m in ids),
            "ontvangers geïnformeerd": self.allowed,
        }

    def persons(self) -> int:
        """Victims: meldingen that share a victim's pseudonym are one person."""
        parent: dict[str, str] = {}

        def root(x: str) -> str:
            while parent.setdefault(x, x) != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for melding in self.meldingen:
            names = self.victims.get(melding) or (f"melding:{melding}",)
            for other in names[1:]:
                parent[root(other)] = root(names[0])
            root(names[0])
        return len({root(x) for x in parent})


def entries_of_year(ledger: Ledger, year: int) -> Iterator[Entry]:
    since, until = f"{year:04d}-01-01T00:00:00.000000Z", f"{year + 1:04d}-01-01T00:00:00.000000Z"
    after = -1
    while True:
        page = ledger.search(Query(types=TYPES, since=since, until=until, after=after, limit=PAGE))
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1].seq


def reporter_types(ledger: Ledger, meldingen: Iterable[str]) -> dict[str, str]:
    """The reporter type of each melding, from audit's case index (none for a melding
    recorded before the index existed)."""
    ids, found = sorted(meldingen), {}
    with ledger.store.reading() as cursor:
        for start in range(0, len(ids), CHUNK):
            condition, params = ledger.store.any_of("melding_id", ids[start : start + CHUNK])
            sql = ledger.store.sql(f"SELECT melding_id, reporter_type FROM cases WHERE {condition}")
            found.update({str(m): str(t) for m, t in cursor.execute(sql, params).fetchall()})
    return found


def suppressed(count: int, threshold: int) -> int | None:
    """The count, or None when it is above zero and under the threshold."""
    return None if 0 < count < threshold else count


def table(counts: Counter[str], threshold: int) -> dict[str, Any]:
    """A table's rows, largest first, with primary suppression (a count from 1 to
    `threshold - 1` is `None`, shown as "< 5") and secondary suppression: the table's total
    is known (it is published, or it is the year's meldingen), and the total less the cells
    shown is what the hidden cells add up to. While that would give a hidden cell's value
    back, the smallest cell still shown is hidden too (`None` with `aanvullend`, shown as
    "x"); if no cell is left to hide, the total is hidden."""
    small = {name for name, n in counts.items() if suppressed(n, threshold) is None}
    extra: set[str] = set()
    while small and forced([counts[c] for c in small], [counts[c] for c in extra], threshold):
        shown = [c for c in counts if c not in small | extra and counts[c] > 0]
        if not shown:
            break
        extra.add(min(shown, key=lambda c: (counts[c], c)))
    rows = [
        {"categorie": name, "aantal": None if name in small | extra else n}
        | ({"aanvullend": True} if name in extra else {})
        for name, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]
    total: int | None = sum(counts.values())
    if small and forced([counts[c] for c in small], [counts[c] for c in extra], threshold):
        total = None
    return {"rijen": rows, "totaal": total}


def forced(small: list[int], extra: list[int], threshold: int) -> bool:
    """Whether hidden cells' values follow from what they add up to: each small one is
    known to lie in [1, threshold - 1] and each extra one in [threshold, …)."""
    if not small and not extra:
        return False
    left = sum(small) + sum(extra)
    lowest = len(small) + threshold * len(extra)
    if left == lowest or len(small) + len(extra) == 1:
        return True
    return not extra and left == (threshold - 1) * len(small)


def counted_tables(counts: dict[str, Counter[str]], meldingen: int) -> dict[str, Counter[str]]:
    """The counters' tables; the meldingen of the year no counter saw are "niet geteld"
    (each counted melding has exactly one gender, so those add up to the counted ones)."""
    uncounted = max(0, meldingen - sum(counts[GENDER].values()))
    missing = Counter({NOT_COUNTED: uncounted}) if uncounted else Counter()
    return {
        "geslacht": counts[GENDER] + missing,
        "uitbuitingsvorm": Counter({f.replace("_", " "): n for f, n in counts[FORM].items()})
        + missing,
        "minderjarig": counts[MINOR] + missing,
    }


def average_age(counts: dict[str, Counter[str]], threshold: int) -> dict[str, Any]:
    """The victims' average age (on the Dutch date of their melding), over the known ages;
    none while fewer than `threshold` ages are known."""
    known = counts[AGE][AGE_KNOWN]
    shown = known >= threshold
    return {
        "gemiddelde": round(counts[AGE][AGE_SUM] / known, 1) if shown else None,
        "bekend": suppressed(known, threshold),
    }


def figures(ledger: Ledger, year: int, threshold: int) -> dict[str, Any]:
    tally = Tally()
    for entry in entries_of_year(ledger, year):
        tally.add(entry)
    tally.reporter = reporter_types(ledger, tally.meldingen)
    counts = year_counts(ledger.store, year)
    tables = tally.tables() | counted_tables(counts, len(tally.meldingen))
    return {
        "jaar": year,
        "drempel": threshold,
        "meldingen": suppressed(len(tally.meldingen), threshold),
        "personen": suppressed(tally.persons(), threshold),
        "leeftijd": average_age(counts, threshold),
        "tabellen": {name: table(c, threshold) for name, c in tables.items()},
    }
