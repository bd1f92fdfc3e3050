"""`kmt audit ...` as a privacy officer uses it: verify, export, verify offline, archive."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from services.audit.backends import SQLITE_FILE, open_ledger
from services.audit.cli import cli
from services.audit.ledger import Query
from services.common.settings import Settings
from tests.ledger_backends import decision

runner = CliRunner()


@pytest.fixture
def settings(tmp_path: Path, configure: Callable[..., Settings]) -> Settings:
    configured = configure(
        data_dir=tmp_path / "data", keys_dir=tmp_path / "keys", staff_file=tmp_path / "staff.json"
    )
    ledger = open_ledger(configured.model_copy(update={"audit_checkpoint_entries": 4}))
    for n in range(10):
        ledger.append(decision(n))
    ledger.close()
    return configured


def test_verify_says_in_orde_and_names_the_damage(settings: Settings) -> None:
    result = runner.invoke(cli, ["verify"])
    assert result.exit_code == 0 and "in orde" in result.output
    database = sqlite3.connect(settings.data_dir / SQLITE_FILE)
    database.execute("DROP TRIGGER entries_no_update")
    database.execute("UPDATE entries SET allow = 1 - allow WHERE seq = 7")
    database.commit()
    database.close()
    result = runner.invoke(cli, ["verify"])
    assert result.exit_code == 1
    assert "NIET IN ORDE" in result.output and "seq 7" in result.output


def test_export_verifies_offline_with_the_public_key(settings: Settings, tmp_path: Path) -> None:
    assert runner.invoke(cli, ["checkpoint"]).exit_code == 0
    key = runner.invoke(cli, ["public-key"]).output.strip()
    export = tmp_path / "export.jsonl"
    assert runner.invoke(cli, ["export", str(export)]).exit_code == 0
    result = runner.invoke(cli, ["verify-export", str(export), "--key", key])
    assert result.exit_code == 0, result.output
    export.write_text(export.read_text().replace('"recipient":"riec"', '"recipient":"x"', 1))
    assert runner.invoke(cli, ["verify-export", str(export), "--key", key]).exit_code == 1


def test_archive_prunes_and_the_rest_still_verifies(settings: Settings, tmp_path: Path) -> None:
    key = runner.invoke(cli, ["public-key"]).output.strip()
    result = runner.invoke(cli, ["archive", str(tmp_path / "archief"), "--older-than-days", "0"])
    assert result.exit_code == 0, result.output
    assert "live tabellen beginnen bij seq 8" in result.output
    (archive,) = (tmp_path / "archief").iterdir()
    assert runner.invoke(cli, ["verify-export", str(archive), "--key", key]).exit_code == 0
    assert runner.invoke(cli, ["verify"]).exit_code == 0
    ledger = open_ledger(settings)
    assert ledger.entry(7) is None and ledger.entry(8) is not None
    ledger.close()
    # the archive's export signed a checkpoint over its last entry (seq 9), so those are due now
    again = runner.invoke(cli, ["archive", str(tmp_path / "archief"), "--older-than-days", "0"])
    assert "live tabellen beginnen bij seq 10" in again.output, again.output
    assert runner.invoke(cli, ["verify"]).exit_code == 0
    third = runner.invoke(cli, ["archive", str(tmp_path / "archief"), "--older-than-days", "0"])
    assert "niets te archiveren" in third.output


def test_report_asks_who_writes_the_pdf_and_tells_the_officer(
    settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "inzage.pdf"
    command = ["report", str(out), "--by", "fg-almelo", "--kenmerk", "AVG-2026/3"]
    result = runner.invoke(cli, command, input="111222333\n")
    assert result.exit_code == 0, result.output
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(out).pages).split())
    for required in ("AVG-2026/3", "geen meldingen over u", "Autoriteit Persoonsgegevens"):
        assert required in text
    assert "KMT_CONTROLLER_CONTACT is niet ingesteld" in result.output  # for the officer only
    assert "KMT_CONTROLLER_CONTACT" not in text
    assert "111222333" not in result.output  # typed hidden, never echoed
    ledger = open_ledger(settings)
    (access,) = [e for e in ledger.search(Query(limit=100)) if e.type == "audit_access"]
    ledger.close()
    assert access.actor == "staff:fg-almelo" and access.event_type == "audit.access_report"
    assert access.event_id in text  # the report's registration number is its trail entry


def test_report_refuses_what_identifies_nobody_and_records_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "inzage.html"
    for typed in ("111222334\n", "\nSanne\n14-05-2001\n", "\nSanne\n2999-01-01x\n"):
        result = runner.invoke(cli, ["report", str(out), "--by", "fg-1"], input=typed)
        assert result.exit_code == 2 and "ongeldig" in result.output, result.output
        assert "Sanne" not in result.output and "111222334" not in result.output
    wrong_form = runner.invoke(cli, ["report", str(tmp_path / "x.txt"), "--by", "fg-1"])
    assert wrong_form.exit_code == 2 and ".pdf" in wrong_form.output
    assert not out.exists()
    ledger = open_ledger(settings)
    assert not [e for e in ledger.search(Query(limit=100)) if e.type == "audit_access"]
    ledger.close()
