"""Per-melding data keys (crypto-shredding): intake seals, sharing and audit open, nobody
opens after the key is destroyed, and a ciphertext cannot be passed off for another melding."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.keyring import generate_all
from services.keyring.datakeys import DataKeyStore
from services.keyring.vault import MeldingErased, Opener, SealBroken, Sealer

MELDING = b'{"victim": {"name": "Anna de Vries", "bsn": "111222333"}}'


@pytest.fixture
def world(tmp_path: Path) -> tuple[Sealer, Opener, Opener, DataKeyStore]:
    generate_all(tmp_path / "keys")
    store = DataKeyStore(tmp_path / "data" / "keystore.db")
    return (
        Sealer.load(tmp_path / "keys", store),
        Opener.load(tmp_path / "keys", "sharing", store),
        Opener.load(tmp_path / "keys", "audit", store),
        store,
    )


def test_readers_open_what_intake_sealed_and_the_ciphertext_reveals_nothing(
    world: tuple[Sealer, Opener, Opener, DataKeyStore],
) -> None:
    sealer, sharing, audit, _ = world
    sealed = sealer.seal("m-1", MELDING)
    assert b"Anna" not in sealed.encode() and "111222333" not in sealed
    assert sharing.open("m-1", sealed) == MELDING
    assert audit.open("m-1", sealed) == MELDING


def test_after_destroying_the_key_nobody_can_open_any_copy(
    world: tuple[Sealer, Opener, Opener, DataKeyStore], tmp_path: Path
) -> None:
    sealer, sharing, audit, store = world
    first, retry = sealer.seal("m-1", MELDING), sealer.seal("m-1", MELDING)  # intake retried
    other = sealer.seal("m-2", MELDING)
    assert store.destroy("m-1") == 2
    for reader in (sharing, audit):
        for copy in (first, retry):
            with pytest.raises(MeldingErased):
                reader.open("m-1", copy)
        assert reader.open("m-2", other) == MELDING  # other meldingen untouched
    assert b"m-1/" not in (tmp_path / "data" / "keystore.db").read_bytes()


def test_a_ciphertext_is_bound_to_its_melding(
    world: tuple[Sealer, Opener, Opener, DataKeyStore],
) -> None:
    sealer, sharing, _, _ = world
    sealed = sealer.seal("m-1", MELDING)
    with pytest.raises(SealBroken):
        sharing.open("m-2", sealed)  # replayed for another melding
    with pytest.raises(SealBroken):
        sharing.open("m-1", "not a jwe")
    head, *rest = sealed.split(".")
    tampered = ".".join([head, *rest[:-1], "AAAA" + rest[-1][4:]])
    with pytest.raises(SealBroken):
        sharing.open("m-1", tampered)
