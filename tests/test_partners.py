"""The partner registry: public keys only, clear errors, one municipality's officer only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey, OKPKey

from services.common.partners import (
    Partner,
    PartnerRegistry,
    PartnerRegistryError,
    RegistryFile,
    add_partner,
    new_partner,
    rotate_partner_key,
)


def enc_key() -> dict[str, Any]:
    return dict(ECKey.generate_key("P-256").as_dict(private=False))


def auth_key() -> dict[str, Any]:
    return dict(OKPKey.generate_key("Ed25519").as_dict(private=False))


def partner(partner_id: str, kind: str, municipality: str | None = None) -> Partner:
    return new_partner(
        id=partner_id,
        name=partner_id.title(),
        kind=kind,
        municipality=municipality,
        encryption_key=enc_key(),
        auth_key=auth_key(),
    )


@pytest.fixture
def registry_file(tmp_path: Path) -> Path:
    path = tmp_path / "partners.json"
    for p in (
        partner("riec-on", "riec"),
        partner("gemeente-almelo", "gemeente", "almelo"),
        partner("gemeente-enschede", "gemeente", "enschede"),
        partner("vt-twente", "veilig_thuis"),
        partner("wijkteam-hengelo", "zorg_wijkteam"),
    ):
        add_partner(path, p)
    return path


def test_round_trip_keeps_only_public_keys_with_kid(registry_file: Path) -> None:
    registry = PartnerRegistry.load(registry_file)
    assert [p.id for p in registry.partners][:2] == ["riec-on", "gemeente-almelo"]
    stored = registry_file.read_text()
    assert '"d"' not in stored
    riec = registry.get("riec-on")
    assert riec is not None and riec.encryption_key is not None
    assert riec.encryption_key["kid"] == riec.encryption_public_key().thumbprint()
    assert riec.encryption_key["use"] == "enc" and riec.auth_key["use"] == "sig"


def test_recipient_partners(registry_file: Path) -> None:
    registry = PartnerRegistry.load(registry_file)

    def ids(recipient: Any, municipality: Any) -> list[str]:
        return [p.id for p in registry.recipient_partners(recipient, municipality)]

    assert ids("riec", "almelo") == ["riec-on"]
    assert ids("veilig_thuis", None) == ["vt-twente"]
    assert ids("gemeente_veiligheid", "enschede") == ["gemeente-enschede"]
    assert ids("gemeente_veiligheid", "borne") == []
    assert ids("gemeente_veiligheid", None) == []
    assert ids("gemeente_veiligheid", "buiten_twente") == []


def test_absent_file_is_an_empty_registry(tmp_path: Path) -> None:
    assert PartnerRegistry.load(tmp_path / "none.json").partners == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"encryption_key": dict(ECKey.generate_key("P-256").as_dict(private=True))}, "privé"),
        (
            {"encryption_key": dict(OKPKey.generate_key("X25519").as_dict(private=False))},
            "EC P-256",
        ),
        ({"auth_key": {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}}, "geldige"),
        ({"kind": "gemeente"}, "14 Twentse"),
        ({"kind": "gemeente", "municipality": "buiten_twente"}, "14 Twentse"),
        ({"municipality": "almelo"}, "alleen een gemeente"),
        ({"encryption_key": None}, "encryption_key nodig"),
        ({"id": "Hoofd Letters"}, "id"),
        ({"kind": "slachtoffer_betrokkene"}, "kind"),
    ],
)
def test_invalid_partners_are_refused_clearly(change: dict[str, Any], message: str) -> None:
    fields = {
        "id": "riec-on",
        "name": "RIEC",
        "kind": "riec",
        "encryption_key": enc_key(),
        "auth_key": auth_key(),
    }
    with pytest.raises(PartnerRegistryError, match=message) as raised:
        new_partner(**(fields | change))
    assert '"d"' not in str(raised.value)


def test_reporter_needs_no_encryption_key() -> None:
    reporter = new_partner(id="politie-on", name="Politie", kind="politie", auth_key=auth_key())
    assert reporter.recipient is None


def test_duplicate_and_unknown_ids_are_refused(registry_file: Path) -> None:
    with pytest.raises(PartnerRegistryError, match="bestaat al"):
        add_partner(registry_file, partner("riec-on", "riec"))
    with pytest.raises(PartnerRegistryError, match="onbekende partner"):
        rotate_partner_key(registry_file, "nobody", "auth", auth_key())


def test_rotate_key_replaces_only_that_key(registry_file: Path) -> None:
    before = PartnerRegistry.load(registry_file).get("vt-twente")
    new = enc_key()
    rotate_partner_key(registry_file, "vt-twente", "encryption", new)
    after = PartnerRegistry.load(registry_file).get("vt-twente")
    assert before is not None and after is not None and after.encryption_key is not None
    assert after.encryption_key["x"] == new["x"]
    assert after.auth_key == before.auth_key
    with pytest.raises(PartnerRegistryError, match="privé"):
        rotate_partner_key(
            registry_file,
            "vt-twente",
            "auth",
            dict(OKPKey.generate_key("Ed25519").as_dict(private=True)),
        )


def test_broken_file_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "partners.json"
    path.write_text("{")
    with pytest.raises(PartnerRegistryError, match="geen geldige JSON"):
        PartnerRegistry.load(path)
    path.write_text(json.dumps({"partners": [{"id": "x"}]}))
    with pytest.raises(PartnerRegistryError, match=r"partners\.0"):
        PartnerRegistry.load(path)


def test_registry_file_is_read_again_only_when_it_changed(
    registry_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[Path] = []
    load = PartnerRegistry.load.__func__  # type: ignore[attr-defined]

    def counted(cls: type[PartnerRegistry], path: Path) -> PartnerRegistry:
        reads.append(path)
        return load(cls, path)  # type: ignore[no-any-return]

    monkeypatch.setattr(PartnerRegistry, "load", classmethod(counted))
    cached = RegistryFile(registry_file)
    first = cached.current()
    assert cached.current() is first and cached.current() is first
    assert len(reads) == 1  # not once per decision or request
    add_partner(registry_file, partner("riec-west", "riec"))  # a new partner, while running
    before = len(reads)
    assert cached.current().get("riec-west") is not None
    assert cached.current().get("riec-west") is not None
    assert len(reads) == before + 1
    new = enc_key()
    rotate_partner_key(registry_file, "vt-twente", "encryption", new)  # a rotated key
    rotated = cached.current().get("vt-twente")
    assert rotated is not None and rotated.encryption_key is not None
    assert rotated.encryption_key["x"] == new["x"]


def test_registry_file_sees_an_edit_in_place_and_a_removal(registry_file: Path) -> None:
    cached = RegistryFile(registry_file)
    assert cached.current().get("riec-on") is not None
    content = json.loads(registry_file.read_text())
    content["partners"] = [p for p in content["partners"] if p["id"] != "riec-on"]
    registry_file.write_text(json.dumps(content))  # same inode, written in place
    assert cached.current().get("riec-on") is None
    registry_file.write_text("{")
    with pytest.raises(PartnerRegistryError):
        cached.current()  # a broken file is refused every time, never the old one kept
    registry_file.unlink()
    assert cached.current().partners == []
