"""`kmt audit ...` as a privacy officer uses it: verify, export, verify offline, archive."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.audit.backends import SQLITE_FILE, open_ledger
from services.audit.cli import cli
from services.common.settings import Settings
from tests.test_audit_ledger import decision

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
