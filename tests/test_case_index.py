"""The case index on both ledger stores (issue 12 §3), without a stack: only earlier
meldingen are listed, an erased one is left out, a melding recorded before the ledger kept
whom each pseudonym stands for is listed as `unknown`, and the status steps a reporter sees
follow from the same entries."""

from __future__ import annotations

from services.audit.cases import CaseFacts, earlier_meldingen
from services.audit.entry import Draft, Entry, EntryType
from services.audit.status import steps
from tests.ledger_backends import Backend, backend  # noqa: F401  (fixture)

VICTIM, SUSPECT, OTHER = "p-victim", "p-suspect", "p-other"


def melding(n: int, pseudonyms: tuple[str, ...], paths: tuple[str, ...]) -> tuple[Draft, str]:
    melding_id = f"00000000-0000-4000-8000-{n:012d}"
    draft = Draft(
        type="melding", event_id=f"melding-{n}", actor="kmt/intake", melding_id=melding_id,
        fields=paths, subject_pseudonyms=pseudonyms, trace_id=f"melding-{n}",
    )  # fmt: skip
    return draft, melding_id


def record(ledger: Backend, n: int, pseudonyms: tuple[str, ...], paths: tuple[str, ...]) -> str:
    draft, melding_id = melding(n, pseudonyms, paths)
    case = CaseFacts(melding_id, f"2026-03-0{n}T09:00:00+00:00", "gemeente", "almelo")
    ledger.ledger.append_many([draft], {draft.event_id: case})
    for recipient, allow in (("riec", True), ("gemeente_veiligheid", False)):
        ledger.ledger.append(
            Draft(
                type="decision",
                event_id=f"d-{n}-{recipient}",
                actor="kmt/routing",
                melding_id=melding_id,
                recipient=recipient,
                allow=allow,
            )
        )
    return melding_id


def test_earlier_only_not_erased_and_whom_they_share(backend: Backend) -> None:  # noqa: F811
    both = record(backend, 1, (VICTIM, SUSPECT), ("victim", "suspects[0]"))
    erased = record(backend, 2, (VICTIM,), ("victim",))
    backend.ledger.append(
        Draft(type="erasure", event_id="erase-2", actor="staff:fg", melding_id=erased)
    )
    before_paths = record(backend, 3, (SUSPECT,), ())  # recorded before paths were kept
    stranger = record(backend, 4, (OTHER,), ("victim",))
    asked = record(backend, 5, (VICTIM, SUSPECT), ("victim", "suspects[0]"))
    later = record(backend, 6, (VICTIM,), ("victim",))

    found = earlier_meldingen(backend.ledger.store, asked)
    assert found is not None
    assert [(k.melding_id, k.same) for k in found] == [
        (before_paths, ["suspect"]),  # whom it stands for: from the melding asked about
        (both, ["suspect", "victim"]),
    ]  # newest first; not the erased one, not the stranger, not the later one
    assert [(d["recipient"], d["allow"]) for d in found[1].decisions] == [
        ("riec", True), ("gemeente_veiligheid", False),
    ]  # fmt: skip
    assert stranger not in {k.melding_id for k in found} and later
    old = earlier_meldingen(backend.ledger.store, before_paths)
    assert old is not None and [(k.melding_id, k.same) for k in old] == [(both, ["unknown"])]
    assert earlier_meldingen(backend.ledger.store, erased) is None  # erased: not in the index
    assert earlier_meldingen(backend.ledger.store, "00000000-0000-4000-8000-999999999999") is None


def test_the_steps_a_reporter_sees() -> None:
    def entry(kind: EntryType, recipient: str | None = None, allow: bool | None = None,
              disclosure: str | None = None) -> Entry:  # fmt: skip
        return Entry(type=kind, event_id="e", actor="x", recipient=recipient, allow=allow,
                     disclosure_id=disclosure, recorded_at=f"2026-03-0{next(clock)}")  # fmt: skip

    clock = iter(range(1, 10))
    decided = [entry("decision", "riec", True), entry("decision", "gemeente_veiligheid", False)]
    assert steps(decided) == {}
    decided.append(entry("decision", "veilig_thuis", True))
    assert steps(decided) == {"assessed": "2026-03-03"}  # allowed, nothing disclosed yet
    made = [entry("disclosure", "riec", disclosure="a"), entry("disclosure", "veilig_thuis",
                                                                 disclosure="b")]  # fmt: skip
    released = entry("release", disclosure="a")
    assert set(steps([*decided, *made, released])) == {"assessed"}  # b waits for its review
    rejected = entry("review", allow=False, disclosure="b")
    assert steps([*decided, *made, released, rejected])["closed"] == rejected.recorded_at
    assert set(steps([entry("alert")])) == {"alert"}
