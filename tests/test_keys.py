"""KMT key files: created once, owner-only, rotation keeps old public keys."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from services.common import keys
from services.common.settings import Settings


def test_generate_creates_everything_once_with_owner_only_permissions(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    assert set(keys.generate_keys(directory)) == {
        keys.SIGNING_KEY_FILE,
        keys.SIGNING_PUBLIC_FILE,
        f"intake/{keys.TOKEN_KEY_FILE}",
        f"sharing/{keys.TOKEN_KEY_FILE}",
        keys.PSEUDONYM_SECRETS_FILE,
    }
    assert keys.generate_keys(directory) == []
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for folder in directory.iterdir():
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder.name
        for path in folder.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_kid_is_the_thumbprint_and_public_set_has_no_private_parts(tmp_path: Path) -> None:
    keys.generate_keys(tmp_path)
    signing = keys.load_signing_key(tmp_path)
    assert signing.kid == signing.thumbprint()
    published = keys.public_keyset(tmp_path).as_dict()
    assert [k["kid"] for k in published["keys"]] == [signing.kid]
    assert all("d" not in k for k in published["keys"])


def test_rotation_makes_a_new_current_key_and_keeps_old_public_keys(tmp_path: Path) -> None:
    keys.generate_keys(tmp_path)
    first = keys.load_signing_key(tmp_path).kid
    second = keys.generate_signing_key(tmp_path).kid
    assert keys.load_signing_key(tmp_path).kid == second != first
    assert [k.kid for k in keys.public_keyset(tmp_path)] == [second, first]


def test_pseudonym_keys_are_stable_and_per_recipient(tmp_path: Path) -> None:
    keys.generate_keys(tmp_path)
    riec = keys.pseudonym_key("riec", tmp_path)
    keys.generate_signing_key(tmp_path)
    keys.generate_keys(tmp_path)
    assert keys.pseudonym_key("riec", tmp_path) == riec
    assert len(riec) == 32
    assert riec != keys.pseudonym_key("veilig_thuis", tmp_path)


def test_missing_material_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(keys.KeyMaterialMissing, match="kmt keys generate"):
        keys.load_signing_key(tmp_path)
    with pytest.raises(keys.KeyMaterialMissing):
        keys.pseudonym_key("riec", tmp_path)


def test_default_directory_comes_from_settings(
    tmp_path: Path, configure: Callable[..., Settings]
) -> None:
    configure(keys_dir=tmp_path)
    keys.generate_keys()
    assert keys.load_token_key(None, "intake").kid
    assert (tmp_path / "intake" / keys.TOKEN_KEY_FILE).exists()
