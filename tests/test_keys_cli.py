"""`kmt keys generate|rotate|public`."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.common import keys
from services.common.settings import Settings
from services.sharing.admin_cli import keys_cli


@pytest.fixture
def keys_dir(tmp_path: Path, configure: Callable[..., Settings]) -> Path:
    return configure(keys_dir=tmp_path / "keys").keys_dir


def test_generate_rotate_and_publish(keys_dir: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(keys_cli, ["generate"])
    assert first.exit_code == 0 and "signing-key.json" in first.stdout
    assert runner.invoke(keys_cli, ["generate"]).stdout.strip() == "alles bestond al"
    old_kid = keys.load_signing_key(keys_dir).kid
    rotated = runner.invoke(keys_cli, ["rotate"])
    new_kid = keys.load_signing_key(keys_dir).kid
    assert rotated.exit_code == 0 and str(new_kid) in rotated.stdout and new_kid != old_kid
    published = json.loads(runner.invoke(keys_cli, ["public"]).stdout)
    assert [k["kid"] for k in published["keys"]] == [new_kid, old_kid]
    assert all("d" not in k for k in published["keys"])
    token_kid = keys.load_token_key(keys_dir, "sharing").kid
    assert runner.invoke(keys_cli, ["rotate", "--token-key"]).exit_code == 0
    assert keys.load_token_key(keys_dir, "sharing").kid != token_kid
    assert keys.load_signing_key(keys_dir).kid == new_kid
