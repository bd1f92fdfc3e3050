"""seal / open_sealed: standard nested JOSE, verifiable across key rotation, tamper-evident."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from joserfc import jwe, jws
from joserfc.jwk import ECKey, KeySet

from services.common import keys
from services.sharing.sealing import SealingError, canonical_json, open_sealed, seal

# keys.py silences joserfc's RFC 9864 notice on "EdDSA"; pytest resets warning filters per test.
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")

PAYLOAD = {"melding_id": "m-1", "victim": {"pseudonym": "ab" * 32}, "naam": "Zoë Jansen"}


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    keys.generate_keys(tmp_path)
    return tmp_path


@pytest.fixture
def recipient() -> ECKey:
    key = ECKey.generate_key("P-256", parameters={"use": "enc"})
    key.ensure_kid()
    return key


def public(key: ECKey) -> ECKey:
    return ECKey.import_key(key.as_dict(private=False))


def sealed_for(recipient: ECKey, keys_dir: Path) -> str:
    return seal(
        PAYLOAD, signing_key=keys.load_signing_key(keys_dir), recipient_public_key=public(recipient)
    )


def test_round_trip(recipient: ECKey, keys_dir: Path) -> None:
    token = sealed_for(recipient, keys_dir)
    opened = open_sealed(
        token, recipient_private_key=recipient, kmt_public_keys=keys.public_keyset(keys_dir)
    )
    assert opened == PAYLOAD


def test_headers_are_standard_and_name_the_keys(recipient: ECKey, keys_dir: Path) -> None:
    token = sealed_for(recipient, keys_dir)
    # Neither the plaintext nor its base64 shows through (short strings could occur by chance).
    for visible in ("Zoë Jansen", "pseudonym", "Wm/DqyBKYW5zZW4", "cHNldWRvbnlt"):
        assert visible not in token
    outer = jwe.decrypt_compact(token, recipient)
    assert outer.headers() | {"epk": None} == {
        "alg": "ECDH-ES+A256KW",
        "enc": "A256GCM",
        "kid": recipient.kid,
        "cty": "JOSE",
        "epk": None,
    }
    assert outer.plaintext is not None
    inner = jws.extract_compact(outer.plaintext)
    assert inner.headers() == {"alg": "EdDSA", "kid": keys.load_signing_key(keys_dir).kid}
    assert inner.payload == canonical_json(PAYLOAD)


def test_still_verifiable_after_rotation(recipient: ECKey, keys_dir: Path) -> None:
    old = sealed_for(recipient, keys_dir)
    keys.generate_signing_key(keys_dir)
    new = sealed_for(recipient, keys_dir)
    published = keys.public_keyset(keys_dir)
    for token in (old, new):
        assert open_sealed(token, recipient_private_key=recipient, kmt_public_keys=published)


def test_wrong_recipient_key_is_refused(recipient: ECKey, keys_dir: Path) -> None:
    token = sealed_for(recipient, keys_dir)
    with pytest.raises(SealingError, match="ontsleutelen"):
        open_sealed(
            token,
            recipient_private_key=ECKey.generate_key("P-256"),
            kmt_public_keys=keys.public_keyset(keys_dir),
        )


def test_signature_by_unknown_key_is_refused(
    recipient: ECKey, keys_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    token = sealed_for(recipient, keys_dir)
    elsewhere = tmp_path_factory.mktemp("other")
    keys.generate_keys(elsewhere)
    with pytest.raises(SealingError, match="handtekening"):
        open_sealed(
            token, recipient_private_key=recipient, kmt_public_keys=keys.public_keyset(elsewhere)
        )


def test_forged_signature_with_known_kid_is_refused(recipient: ECKey, keys_dir: Path) -> None:
    impostor = keys.new_ed25519_key()
    forged_header = {"alg": "EdDSA", "kid": keys.load_signing_key(keys_dir).kid}
    forged = jws.serialize_compact(
        forged_header, canonical_json(PAYLOAD), impostor, algorithms=["EdDSA"]
    )
    token = jwe.encrypt_compact(
        {"alg": "ECDH-ES+A256KW", "enc": "A256GCM"}, forged, public(recipient)
    )
    with pytest.raises(SealingError, match="handtekening"):
        open_sealed(
            token, recipient_private_key=recipient, kmt_public_keys=keys.public_keyset(keys_dir)
        )


def test_tampered_ciphertext_is_refused(recipient: ECKey, keys_dir: Path) -> None:
    header, key, iv, ciphertext, tag = sealed_for(recipient, keys_dir).split(".")
    flipped = ("A" if ciphertext[0] != "A" else "B") + ciphertext[1:]
    with pytest.raises(SealingError):
        open_sealed(
            ".".join((header, key, iv, flipped, tag)),
            recipient_private_key=recipient,
            kmt_public_keys=keys.public_keyset(keys_dir),
        )


def test_garbage_is_refused_without_echoing_it(recipient: ECKey) -> None:
    with pytest.raises(SealingError) as raised:
        open_sealed(
            "Sanne.de.Vries.geheim.x",
            recipient_private_key=recipient,
            kmt_public_keys=KeySet([keys.new_ed25519_key()]),
        )
    assert "Sanne" not in str(raised.value)


def test_canonical_json_is_order_independent() -> None:
    assert canonical_json({"b": 1, "a": "é"}) == canonical_json({"a": "é", "b": 1})
    assert json.loads(canonical_json({"a": "é"})) == {"a": "é"}


def test_partner_keeping_old_and_new_key_opens_both(recipient: ECKey, keys_dir: Path) -> None:
    rotated = ECKey.generate_key("P-256")
    rotated.ensure_kid()
    before = sealed_for(recipient, keys_dir)
    after = sealed_for(rotated, keys_dir)
    both = KeySet([recipient, rotated])
    published = keys.public_keyset(keys_dir)
    for token in (before, after):
        assert open_sealed(token, recipient_private_key=both, kmt_public_keys=published) == PAYLOAD
