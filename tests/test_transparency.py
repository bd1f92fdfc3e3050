"""The shared receipt checks against other implementations' published vectors: RFC 6962/9162
trees and proofs (transparency-dev/merkle's `testonly` constants) and signed notes
(golang.org/x/mod/sumdb/note's tests), so a partner checking with any standard tool and KMT
agree on what verifies."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.checkpoint import ORIGIN, sign, verifier_key
from services.common.transparency import (
    DASH,
    BadCheckpoint,
    key_id,
    leaf_hash,
    node_hash,
    open_note,
    parse_verifier_key,
    raw_public,
    verify_consistency,
    verify_inclusion,
    verify_note,
)

LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOT_8 = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
ROOT_4 = bytes.fromhex("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")
ROOT_2 = bytes.fromhex("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")
INCLUSION = {
    0: [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    5: [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}
CONSISTENCY_2_8 = [
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
]

PETER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    f"{DASH} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvq"
    "fqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    f"{DASH} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTG"
    "wnWLox33WWd1RvMc+QQ=\n"
)


def hashes(hexes: list[str]) -> list[bytes]:
    return [bytes.fromhex(h) for h in hexes]


def test_the_reference_tree_heads() -> None:
    leaves = [leaf_hash(d) for d in LEAVES]
    assert node_hash(leaves[0], leaves[1]) == ROOT_2
    assert leaves[0].hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"


@pytest.mark.parametrize("index", sorted(INCLUSION))
def test_the_reference_inclusion_proofs_verify_and_nothing_near_them(index: int) -> None:
    leaf, proof = leaf_hash(LEAVES[index]), hashes(INCLUSION[index])
    assert verify_inclusion(index, 8, leaf, proof, ROOT_8)
    assert not verify_inclusion(index ^ 1, 8, leaf, proof, ROOT_8)  # another leaf's place
    assert not verify_inclusion(index, 4, leaf, proof, ROOT_8)  # another tree shape
    assert not verify_inclusion(index, 16, leaf, proof, ROOT_8)
    assert not verify_inclusion(index, 8, leaf_hash(LEAVES[index] + b"x"), proof, ROOT_8)
    assert not verify_inclusion(index, 8, leaf, proof[:-1], ROOT_8)  # truncated
    assert not verify_inclusion(index, 8, leaf, [*proof, proof[-1]], ROOT_8)  # extended
    assert not verify_inclusion(index, 8, leaf, proof, ROOT_4)
    assert not verify_inclusion(-1, 8, leaf, proof, ROOT_8)


def test_the_reference_consistency_proof() -> None:
    proof = hashes(CONSISTENCY_2_8)
    assert verify_consistency(2, 8, ROOT_2, ROOT_8, proof)
    assert not verify_consistency(2, 8, ROOT_4, ROOT_8, proof)
    assert not verify_consistency(2, 8, ROOT_2, ROOT_8, proof[:1])


def test_a_go_signed_note_opens_with_each_signers_key_only() -> None:
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert verify_note(note, PETER) == TEXT
    assert verify_note(note, ENOCH) == TEXT
    with pytest.raises(BadCheckpoint, match="niet ondertekend door PeterNeumann"):
        verify_note(TEXT + "\n" + ENOCH_SIG, PETER)
    with pytest.raises(BadCheckpoint, match="klopt niet"):
        verify_note(TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:], PETER)
    with pytest.raises(BadCheckpoint, match="klopt niet"):
        verify_note(TEXT.replace("cryptography", "cryptographie") + "\n" + PETER_SIG, PETER)
    for malformed in (TEXT, TEXT + "\n", TEXT + "\n" + PETER_SIG[:-1]):
        with pytest.raises(BadCheckpoint):
            verify_note(malformed, PETER)


def test_a_mangled_verifier_key_is_refused() -> None:
    assert parse_verifier_key(PETER)[0] == "PeterNeumann"
    for mangled in (
        PETER[:-1],
        PETER.replace("c74f20a3", "c74f20a4"),
        PETER.replace("+ARpc", "+ZRpc"),  # not Ed25519
        PETER.replace("PeterNeumann", "PeterNeuman"),  # the key id binds the name
        "PeterNeumann",
    ):
        with pytest.raises(BadCheckpoint):
            parse_verifier_key(mangled)


def signed_note(key: Ed25519PrivateKey, text: str, name: str = ORIGIN) -> str:
    """Any text signed as a note by `key` under key name `name`."""
    prefix = key_id(name, raw_public(key.public_key()))
    signature = base64.b64encode(prefix + key.sign(text.encode())).decode()
    return f"{text}\n{DASH} {name} {signature}\n"


def test_a_checkpoint_opens_only_for_its_own_log_and_key() -> None:
    key = Ed25519PrivateKey.generate()
    mine = verifier_key(key.public_key())
    opened = open_note(sign(key, 8, ROOT_8).note, mine)
    assert (opened.size, opened.root, opened.origin) == (8, ROOT_8, ORIGIN)
    with pytest.raises(BadCheckpoint, match="niet ondertekend"):
        open_note(
            sign(key, 8, ROOT_8).note, verifier_key(Ed25519PrivateKey.generate().public_key())
        )
    root = base64.b64encode(ROOT_8).decode()
    with pytest.raises(BadCheckpoint, match="van log 'elders/log'"):
        open_note(signed_note(key, f"elders/log\n8\n{root}\n"), mine)
    with pytest.raises(BadCheckpoint, match="geen oorsprong"):
        open_note(signed_note(key, f"{ORIGIN}\n8\n"), mine)


@pytest.mark.parametrize("size", ["+8", " 8", "8_0", "08", "-1", "acht", "", "9" * 21])
def test_a_checkpoint_with_a_malformed_size_or_root_is_refused_even_when_signed(
    size: str,
) -> None:
    key = Ed25519PrivateKey.generate()
    root = base64.b64encode(ROOT_8).decode()
    with pytest.raises(BadCheckpoint, match="grootte of root"):
        open_note(signed_note(key, f"{ORIGIN}\n{size}\n{root}\n"), verifier_key(key.public_key()))
    with pytest.raises(BadCheckpoint, match="grootte of root"):
        open_note(signed_note(key, f"{ORIGIN}\n8\n{root[:-4]}\n"), verifier_key(key.public_key()))
