"""The staff registry behind `require_role`: tokens shown once, stored only as hashes."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from services.common.staff import add_member, authenticate, load_staff, remove_member, require_role


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
