"""The anonymous counters of the Cijfers (gender, forms of exploitation, minors, age) on both
ledger stores: counted in the append transaction, a redelivered melding once, small cells
suppressed, and nothing in the table that leads back to a melding, whoever reads it."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest

from services.audit.counts import ADULT_AGE, VOCABULARY, Counted
from services.audit.entry import Draft
from services.audit.figures import figures
from services.audit.recorder import melding_record
from services.common.models import Melding
from tests.ledger_backends import Backend, backend  # noqa: F401  (fixture)
from tests.test_audit_recorder import KEY, OPENER, melding, received_event

CONFIG = Path(__file__).parent.parent / "policies" / "kmt" / "config" / "data.json"


def entry(n: int) -> Draft:
    return Draft(type="melding", event_id=f"m-{n}", actor="kmt/intake", melding_id=f"melding-{n}")


def record(backend: Backend, n: int, counted: Counted) -> None:  # noqa: F811
    draft = entry(n)
    backend.ledger.append_many([draft], counts={draft.event_id: counted})


def rows(backend: Backend, sql: str) -> list[tuple[Any, ...]]:  # noqa: F811
    """What a reader of the database itself sees (file access, or any ledger role)."""
    store = backend.ledger.store
    with store.reading() as cursor:
        return list(cursor.execute(store.sql(sql)).fetchall())


def year_of(backend: Backend) -> int:  # noqa: F811
    return int(rows(backend, "SELECT MAX(recorded_at) FROM entries")[0][0][:4])


WOMAN_MINOR = Counted("vrouw", ("seksuele_uitbuiting", "criminele_uitbuiting"), 16)
MAN_ADULT = Counted("man", ("arbeidsuitbuiting",), 30)
UNKNOWN = Counted("onbekend", ("seksuele_uitbuiting",), None)


def test_counts_add_up_once_each_and_small_cells_stay_hidden(backend: Backend) -> None:  # noqa: F811
    ledger = backend.ledger
    ledger.append(entry(0))  # recorded before the counters existed
    for n in range(1, 7):
        record(backend, n, WOMAN_MINOR)
    record(backend, 7, MAN_ADULT)
    record(backend, 8, UNKNOWN)
    for n in (1, 7, 8):  # redelivered: the entry is known, so nothing is counted again
        record(backend, n, WOMAN_MINOR)
    year = year_of(backend)
    found = figures(ledger, year, 5)
    assert found["meldingen"] == 9
    tables = {name: t["rijen"] for name, t in found["tabellen"].items()}
    assert tables["geslacht"] == [  # man, onbekend, niet geteld: 1 each, shown as "< 5"
        {"categorie": "vrouw", "aantal": None, "aanvullend": True},  # 9 - 6 = 3 would follow
        {"categorie": "man", "aantal": None},
        {"categorie": "niet geteld", "aantal": None},
        {"categorie": "onbekend", "aantal": None},
    ]
    forms = {r["categorie"]: r["aantal"] for r in tables["uitbuitingsvorm"]}
    assert forms["seksuele uitbuiting"] == 7 and "orgaanverwijdering" not in forms
    assert forms["arbeidsuitbuiting"] is None and forms["niet geteld"] is None
    assert forms["criminele uitbuiting"] is None  # else 1 + 1 would follow from the total
    minors = {r["categorie"]: r["aantal"] for r in tables["minderjarig"]}
    assert set(minors) == {"minderjarig", "meerderjarig", "leeftijd onbekend", "niet geteld"}
    assert found["leeftijd"] == {"gemiddelde": round((6 * 16 + 30) / 7, 1), "bekend": 7}
    assert figures(ledger, year, 8)["leeftijd"] == {"gemiddelde": None, "bekend": None}
    assert figures(ledger, year - 1, 5)["tabellen"]["geslacht"]["rijen"] == []
    # what the store holds: the year's counters, written whole
    stored = {(d, c): t for y, d, c, t in rows(backend, "SELECT * FROM figures")}
    assert set(stored) == set(VOCABULARY)
    assert stored[("leeftijd", "som")] == 6 * 16 + 30 and stored[("leeftijd", "aantal")] == 7


def test_a_batch_counts_each_new_melding_and_skips_known_ones(backend: Backend) -> None:  # noqa: F811
    drafts = [entry(n) for n in range(3)]
    counts = {d.event_id: MAN_ADULT for d in drafts}
    backend.ledger.append_many(drafts[:1], counts=counts)
    backend.ledger.append_many(drafts, counts=counts)  # the first again, in a batch
    total = rows(backend, "SELECT tally FROM figures WHERE dimension = 'geslacht'")
    assert sum(t for (t,) in total) == 3


def test_no_row_of_the_figures_leads_back_to_a_melding(backend: Backend) -> None:  # noqa: F811
    """An attacker with the database (file, or any role that may read the ledger) tries to
    tell which counter a melding raised: by a column, by insertion order, or by the
    transaction that wrote it beside the melding's entry."""
    record(backend, 1, WOMAN_MINOR)
    record(backend, 2, MAN_ADULT)
    if backend.ledger.store.name == "sqlite":
        columns = [r[1] for r in rows(backend, "SELECT * FROM pragma_table_info('figures')")]
        order = "rowid"
    else:
        columns = [
            r[0]
            for r in rows(
                backend,
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'figures' ORDER BY ordinal_position",
            )
        ]
        order = "ctid"
    assert columns == ["year", "dimension", "category", "tally"]  # no id, no date but the year
    cells = json.dumps(rows(backend, "SELECT * FROM figures"))
    assert "melding-" not in cells and "m-1" not in cells
    # insertion order is the vocabulary's, whichever melding came first
    made = rows(backend, f"SELECT dimension, category FROM figures ORDER BY {order}")
    assert made == list(VOCABULARY)
    if backend.ledger.store.name == "postgres":
        # every counter was written by the last append, the ones it did not raise as well:
        # the transaction of melding 1 is on no row, so "vrouw" does not point to it
        writers = rows(backend, "SELECT DISTINCT xmin::text FROM figures")
        last = rows(backend, "SELECT xmin::text FROM entries WHERE melding_id = 'melding-2'")
        first = rows(backend, "SELECT xmin::text FROM entries WHERE melding_id = 'melding-1'")
        assert writers == last and first != last


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE figures SET tally = 0",
        "UPDATE figures SET year = year - 1",
        "UPDATE figures SET category = 'man' WHERE category = 'vrouw'",
        "DELETE FROM figures",
    ],
)
def test_counters_only_grow(backend: Backend, statement: str) -> None:  # noqa: F811
    record(backend, 1, WOMAN_MINOR)
    with pytest.raises((sqlite3.DatabaseError, psycopg.Error), match="only grow"):
        backend.attempt(statement)


def test_a_melding_counts_its_gender_from_itself_and_its_age_by_the_one_rule() -> None:
    m = melding()
    body = m.model_dump() | {"received_at": "2026-05-13T22:30:00Z"}  # 14 May in Dutch time
    body["victim"] |= {"birth_date": "2008-05-14", "gender": "vrouw"}
    turns_18 = Melding.model_validate(body)
    _, case, counted = melding_record(received_event(turns_18), KEY, OPENER)
    assert counted == Counted("vrouw", tuple(m.exploitation_forms), 18)
    assert case.melding_id == str(m.melding_id)
    assert Counter(counted.increments())[("minderjarig", "meerderjarig")] == 1


def test_the_age_of_majority_is_the_policies_own() -> None:
    assert json.loads(CONFIG.read_text())["adult_age"] == ADULT_AGE
