"""Offline verification of an export names exactly what was edited (issue 9 item 19).

Each test makes one edit a person with the file could make: swap two lines, duplicate one,
edit the human-readable `verwerking` view, or drop the last checkpoint. The verifier must
name the seqs involved and nothing else, and never say "in orde" after such an edit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.audit.export import export_lines
from services.audit.ledger import Ledger
from services.audit.verify import Verification, main, verify_export
from tests.ledger_backends import EVERY, _sqlite, decision

ENTRIES = 2 * EVERY + 2  # checkpoints at 4 and 8, and two entries after the last one


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    backend = _sqlite(tmp_path / "audit.sqlite3")
    for n in range(ENTRIES):
        backend.ledger.append(decision(n))
    yield backend.ledger
    backend.ledger.close()


@pytest.fixture
def lines(ledger: Ledger) -> list[str]:
    exported = list(export_lines(ledger))
    assert verify_export(exported, ledger.verifier_key).ok
    return exported


def kinds(lines: list[str]) -> list[str]:
    return [json.loads(line)["kind"] for line in lines]


def line_of(lines: list[str], seq: int) -> int:
    (index,) = [
        i
        for i, line in enumerate(lines)
        if json.loads(line)["kind"] == "entry" and json.loads(line)["entry"]["seq"] == seq
    ]
    return index


def seqs_of(result: Verification) -> set[int | None]:
    return {p.seq for p in result.problems}


def test_the_export_ends_with_a_checkpoint_over_its_last_entry(ledger: Ledger) -> None:
    exported = list(export_lines(ledger))
    header = json.loads(exported[0])
    last_note = [json.loads(x)["note"] for x in exported if '"kind":"checkpoint"' in x][-1]
    assert header["size"] == ENTRIES
    assert f"\n{ENTRIES}\n" in last_note
    result = verify_export(exported, ledger.verifier_key)
    assert result.ok and result.unsigned == 0 and result.size == ENTRIES


@pytest.mark.parametrize("first, second", [(5, 6), (2, 7), (0, ENTRIES - 1)])
def test_swapped_lines_name_only_the_two_seqs(
    ledger: Ledger, lines: list[str], first: int, second: int
) -> None:
    a, b = line_of(lines, first), line_of(lines, second)
    lines[a], lines[b] = lines[b], lines[a]
    result = verify_export(lines, ledger.verifier_key)
    assert not result.ok
    assert seqs_of(result) <= {first, second}
    assert all("niet op zijn plaats" in p.message for p in result.problems)
    text = " ".join(p.message for p in result.problems)
    assert re.search(rf"seq {first}\b", text) and re.search(rf"seq {second}\b", text)
    assert len(result.problems) <= 2


@pytest.mark.parametrize("where", ["next to it", "after the last entry"])
def test_a_duplicated_line_is_named_once(ledger: Ledger, lines: list[str], where: str) -> None:
    copy = line_of(lines, 4)
    at = copy + 1 if where == "next to it" else line_of(lines, ENTRIES - 1) + 1
    lines.insert(at, lines[copy])
    result = verify_export(lines, ledger.verifier_key)
    (problem,) = result.problems
    assert problem.seq == 4 and "dubbel" in problem.message


def test_an_edited_verwerking_view_is_named(ledger: Ledger, lines: list[str]) -> None:
    at = line_of(lines, 3)
    item = json.loads(lines[at])
    assert item["verwerking"]["ontvanger"] == "riec"
    item["verwerking"]["ontvanger"] = "veilig_thuis"
    lines[at] = json.dumps(item, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    result = verify_export(lines, ledger.verifier_key)
    (problem,) = result.problems
    assert problem.seq == 3 and "verwerking" in problem.message and "ontvanger" in problem.message


def test_a_dropped_last_checkpoint_is_not_in_orde(
    ledger: Ledger, lines: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    last = max(i for i, kind in enumerate(kinds(lines)) if kind == "checkpoint")
    del lines[last]
    result = verify_export(lines, ledger.verifier_key)
    assert not result.ok
    assert any("laatste checkpoint ontbreekt" in p.message for p in result.problems)
    export = tmp_path / "export.jsonl"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main([str(export), "--key", ledger.verifier_key]) == 1
    assert capsys.readouterr().out.startswith("NIET IN ORDE")


def test_a_dropped_tail_with_its_checkpoint_is_found(ledger: Ledger, lines: list[str]) -> None:
    last = max(i for i, kind in enumerate(kinds(lines)) if kind == "checkpoint")
    tail = {line_of(lines, seq) for seq in range(2 * EVERY, ENTRIES)}
    shortened = [line for i, line in enumerate(lines) if i != last and i not in tail]
    result = verify_export(shortened, ledger.verifier_key)
    assert not result.ok
    assert any("ontbreken" in p.message for p in result.problems)
