"""The staff registry behind `require_role`: tokens shown once, stored only as hashes, ending
at their expiry or when revoked."""

from __future__ import annotations

import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from services.cli import app as app_cli
from services.common.settings import get_settings
from services.common.staff import (
    add_member,
    authenticate,
    issue_token,
    load_staff,
    remove_member,
    require_role,
    revoke_token,
)

runner = CliRunner()


def test_tokens_are_stored_only_as_hashes(tmp_path: Path) -> None:
    registry = tmp_path / "staff.json"
    token = add_member("fg-zvht", "privacy_officer", registry)
    assert token not in registry.read_text()
    assert stat.S_IMODE(registry.stat().st_mode) == 0o600
    member = authenticate(token, registry)
    assert member is not None and (member.id, member.role) == ("fg-zvht", "privacy_officer")
    assert authenticate(token + "x", registry) is None


def test_a_new_token_replaces_the_old_and_removal_ends_access(tmp_path: Path) -> None:
    registry = tmp_path / "staff.json"
    old = add_member("op-1", "operator", registry)
    new = add_member("op-1", "operator", registry)
    assert authenticate(old, registry) is None and authenticate(new, registry) is not None
    assert len(load_staff(registry)) == 1
    assert remove_member("op-1", registry) and not remove_member("op-1", registry)
    assert authenticate(new, registry) is None


def test_bad_ids_and_roles_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="id"):
        add_member("Jan Jansen", "operator", tmp_path / "staff.json")
    with pytest.raises(ValueError, match="rollen"):
        require_role("baas")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rollen"):
        require_role()


def test_a_token_ends_at_its_expiry(tmp_path: Path) -> None:
    registry = tmp_path / "staff.json"
    token = add_member("kmt-1", "kmt_worker", registry, ttl=timedelta(minutes=30))
    now = datetime.now(UTC)
    assert authenticate(token, registry, now=now) is not None
    assert authenticate(token, registry, now=now + timedelta(minutes=31)) is None


def test_the_default_lifetime_is_one_shift_from_the_settings(tmp_path: Path) -> None:
    registry = tmp_path / "staff.json"
    add_member("kmt-1", "kmt_worker", registry)
    (member,) = load_staff(registry)
    assert member.token_expires_at is not None
    lifetime = member.token_expires_at - datetime.now(UTC)
    minutes = get_settings().staff_token_ttl_minutes
    assert timedelta(minutes=minutes - 1) < lifetime <= timedelta(minutes=minutes)


def test_revoking_ends_the_token_at_once_and_a_new_one_can_be_issued(tmp_path: Path) -> None:
    registry = tmp_path / "staff.json"
    token = add_member("fg-1", "privacy_officer", registry)
    assert revoke_token("fg-1", registry)
    assert authenticate(token, registry) is None
    assert [m.id for m in load_staff(registry)] == ["fg-1"]  # still known, without a token
    fresh = issue_token("fg-1", registry)
    member = authenticate(fresh, registry)
    assert member is not None and member.role == "privacy_officer"
    assert authenticate(token, registry) is None
    assert not revoke_token("niemand", registry)
    with pytest.raises(KeyError):
        issue_token("niemand", registry)


def test_an_expired_or_revoked_token_gets_401_from_the_api(tmp_path: Path) -> None:
    registry = tmp_path / "staff.json"
    app = FastAPI()
    app.state.staff_file = registry

    @app.get("/v1/iets")
    def read(staff: Annotated[str, Depends(require_role("kmt_worker"))]) -> dict[str, str]:
        return {"staff": staff}

    client = TestClient(app)
    expired = add_member("kmt-1", "kmt_worker", registry, ttl=timedelta(microseconds=1))
    time.sleep(0.01)
    assert client.get("/v1/iets", headers=_bearer(expired)).status_code == 401
    valid = issue_token("kmt-1", registry)
    assert client.get("/v1/iets", headers=_bearer(valid)).json() == {"staff": "kmt-1"}
    revoke_token("kmt-1", registry)
    assert client.get("/v1/iets", headers=_bearer(valid)).status_code == 401


def test_the_staff_commands_show_a_token_once_and_never_list_it(tmp_path: Path) -> None:
    registry = tmp_path / "staff.json"
    env = {"KMT_STAFF_FILE": str(registry)}
    get_settings.cache_clear()
    try:
        added = runner.invoke(app_cli, ["staff", "add", "fg-zvht", "privacy_officer"], env=env)
        token = added.output.strip()
        assert added.exit_code == 0 and authenticate(token, registry) is not None
        assert token not in registry.read_text()
        listed = runner.invoke(app_cli, ["staff", "list"], env=env)
        assert "fg-zvht\tprivacy_officer\t" in listed.output and token not in listed.output
        assert runner.invoke(app_cli, ["staff", "revoke", "fg-zvht"], env=env).exit_code == 0
        assert authenticate(token, registry) is None
        assert "geen token" in runner.invoke(app_cli, ["staff", "list"], env=env).output
        renewed = runner.invoke(app_cli, ["staff", "token", "fg-zvht"], env=env).output.strip()
        assert authenticate(renewed, registry) is not None
        assert runner.invoke(app_cli, ["staff", "add", "x", "baas"], env=env).exit_code == 2
        assert runner.invoke(app_cli, ["staff", "token", "niemand"], env=env).exit_code == 2
        assert runner.invoke(app_cli, ["staff", "remove", "fg-zvht"], env=env).exit_code == 0
        assert authenticate(renewed, registry) is None and load_staff(registry) == []
    finally:
        get_settings.cache_clear()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
