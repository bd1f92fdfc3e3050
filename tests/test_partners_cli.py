"""`kmt partners list|add|rotate-key`, and `kmt partner keys` on the partner's side."""

import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from joserfc.jwk import ECKey
from typer.testing import CliRunner

from services.cli import app
from services.common.partners import PartnerRegistry
from services.common.settings import Settings
from services.sharing.admin_cli import partners_cli

runner = CliRunner()


@pytest.fixture
def registry(tmp_path: Path, configure: Callable[..., Settings]) -> Path:
    return configure(partners_file=tmp_path / "partners.json").partners_file


def test_add_with_generated_keys_list_and_rotate(registry: Path, tmp_path: Path) -> None:
    kit = tmp_path / "kit"
    added = CliRunner().invoke(
        partners_cli,
        ["add", "gemeente-almelo", "--name", "Gemeente Almelo", "--kind", "gemeente",
         "--municipality", "almelo", "--generate-into", str(kit)],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    private = kit / "gemeente-almelo.encryption.private.jwk.json"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert "d" in json.loads(private.read_text())
    assert '"d"' not in registry.read_text()

    listing = CliRunner().invoke(partners_cli, ["list"]).stdout
    assert listing.startswith("gemeente-almelo\tgemeente (almelo)\tGemeente Almelo\tenc=")

    before = PartnerRegistry.load(registry).get("gemeente-almelo")
    new_key = tmp_path / "new.jwk.json"
    new_key.write_text(json.dumps(ECKey.generate_key("P-256").as_dict(private=False)))
    rotated = CliRunner().invoke(
        partners_cli,
        ["rotate-key", "gemeente-almelo", "--which", "encryption", "--key", str(new_key)],
    )
    assert rotated.exit_code == 0, rotated.output
    after = PartnerRegistry.load(registry).get("gemeente-almelo")
    assert before is not None and after is not None
    assert after.encryption_key != before.encryption_key and after.auth_key == before.auth_key


def test_reporter_gets_only_an_auth_key(registry: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        partners_cli,
        [
            "add",
            "politie-on",
            "--name",
            "Politie",
            "--kind",
            "politie",
            "--generate-into",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.glob("politie-on.*")) == [
        "politie-on.auth.private.jwk.json",
        "politie-on.auth.public.jwk.json",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "x-1", "--name", "X", "--kind", "gemeente"], "--auth-key"),
        (
            ["add", "x-1", "--name", "X", "--kind", "gemeente", "--generate-into", "{kit}"],
            "14 Twentse",
        ),
        (
            ["rotate-key", "nobody", "--which", "auth", "--generate-into", "{kit}"],
            "onbekende partner",
        ),
        (
            ["rotate-key", "nobody", "--which", "sleutel", "--generate-into", "{kit}"],
            "encryption of auth",
        ),
    ],
)
def test_errors_are_one_clear_line(
    registry: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(partners_cli, [a.replace("{kit}", str(tmp_path)) for a in args])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_partner_makes_its_own_keys_and_registers_only_the_public_halves(
    registry: Path, tmp_path: Path
) -> None:
    kit = tmp_path / "kit"
    made = runner.invoke(app, ["partner", "keys", "--partner-id", "riec-test", "--dir", str(kit)])
    assert made.exit_code == 0, made.output
    auth_public = kit / "riec-test.auth.public.jwk.json"
    encryption_public = kit / "riec-test.encryption.public.jwk.json"
    assert made.output.split() == [str(auth_public), str(encryption_public)]
    private = kit / "riec-test.encryption.private.jwk.json"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600 and "d" in json.loads(private.read_text())
    assert "d" not in json.loads(encryption_public.read_text())
    added = runner.invoke(
        app,
        ["partners", "add", "riec-test", "--name", "RIEC test", "--kind", "riec",
         "--auth-key", str(auth_public), "--encryption-key", str(encryption_public)],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert [p.id for p in PartnerRegistry.load(registry).partners] == ["riec-test"]
    again = runner.invoke(app, ["partner", "keys", "--partner-id", "riec-test", "--dir", str(kit)])
    assert again.exit_code == 1 and "bestaat al" in again.output
