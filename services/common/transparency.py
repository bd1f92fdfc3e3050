"""Checking a transparency log's receipts: RFC 9162 Merkle proofs and signed checkpoints.

What the audit service signs and anyone holding its public key checks: the audit service
builds its proofs and signs its checkpoints with these functions, and the reference partner
client checks them with the same ones. It needs only the standard library and `cryptography`,
so a partner copies this one file with `services/partner_client/`.

Merkle trees are those of RFC 9162 section 2.1: a leaf hashes as SHA-256(0x00 || data), a node
as SHA-256(0x01 || left || right).

A checkpoint is a C2SP `tlog-checkpoint` in a C2SP `signed-note` with an Ed25519 signature:

    <origin>\\n<tree size>\\n<base64 root hash>\\n

then a blank line and signature lines `— <key name> <base64(key id || signature)>`. The key id
is the first 4 bytes of SHA-256(key name || "\\n" || 0x01 || public key), and the public key
is published as the verifier key `<name>+<hex key id>+<base64(0x01 || key)>`, as
golang.org/x/mod/sumdb/note reads and writes them.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = b"\x01"
"""The signature-type byte of an Ed25519 verifier key."""
DASH = "\u2014"
"""The em dash that starts every signature line of a signed note."""
TREE_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")


# -- RFC 9162 Merkle trees ---------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _lsb(n: int) -> bool:
    return bool(n & 1)


def _shift_until(fn: int, sn: int, stop: Callable[[int], bool]) -> tuple[int, int]:
    while not stop(fn):
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if _lsb(fn) or fn == sn:
            r = node_hash(p, r)
            fn, sn = _shift_until(fn, sn, lambda f: _lsb(f) or f == 0)
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2."""
    if not 0 < old <= new:
        return False
    if old == new:
        return not proof and old_root == new_root
    if not proof:
        return False
    if old & (old - 1) == 0:  # a power of two: the old root is the first node
        proof = [old_root, *proof]
    fn, sn = _shift_until(old - 1, new - 1, lambda f: not _lsb(f))
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if _lsb(fn) or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            fn, sn = _shift_until(fn, sn, lambda f: _lsb(f) or f == 0)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == new_root and sn == 0


# -- C2SP signed notes and checkpoints ---------------------------------------------------


class BadCheckpoint(ValueError):
    """A checkpoint (or verifier key) that does not parse or whose signature does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    note: str
    """The whole signed note, as published."""


def key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public).digest()[:4]


def raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def parse_verifier_key(text: str) -> tuple[str, Ed25519PublicKey]:
    """The key name and Ed25519 key of a verifier key `<name>+<hex key id>+<base64 key>`."""
    try:
        name, hex_id, encoded = text.strip().split("+", 2)
        data = base64.b64decode(encoded, validate=True)
    except ValueError as exc:
        raise BadCheckpoint("verifier key heeft niet de vorm naam+id+sleutel") from exc
    if data[:1] != ED25519 or len(data) != 33 or key_id(name, data[1:]).hex() != hex_id:
        raise BadCheckpoint("verifier key is geen geldige Ed25519-sleutel voor deze naam")
    return name, Ed25519PublicKey.from_public_bytes(data[1:])


def verify_note(note: str, verifier: str) -> str:
    """The text of signed note `note` once a signature by `verifier` on it checks out;
    other signers' lines are skipped. `BadCheckpoint` otherwise."""
    name, public = parse_verifier_key(verifier)
    text, separator, signatures = note.rpartition("\n\n")
    if not separator or not note.endswith("\n"):
        raise BadCheckpoint("checkpoint heeft niet de signed-note-vorm")
    text += "\n"
    wanted = key_id(name, raw_public(public))
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH or parts[1] != name:
            continue
        try:
            signature = base64.b64decode(parts[2], validate=True)
        except ValueError:
            continue
        if signature[:4] != wanted:
            continue
        try:
            public.verify(signature[4:], text.encode())
        except InvalidSignature:
            raise BadCheckpoint("handtekening van de checkpoint klopt niet") from None
        return text
    raise BadCheckpoint(f"checkpoint is niet ondertekend door {name}")


def open_note(note: str, verifier: str) -> Checkpoint:
    """The checkpoint in `note`, once its signature by `verifier` checks out and it names
    the verifier's own log as its origin; `BadCheckpoint` otherwise."""
    lines = verify_note(note, verifier).split("\n")
    name = verifier.strip().split("+", 1)[0]
    if len(lines) < 4:
        raise BadCheckpoint("checkpoint heeft geen oorsprong, grootte en root")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    try:
        root = base64.b64decode(root_text, validate=True)
    except ValueError:
        root = b""
    if not TREE_SIZE.fullmatch(size_text) or len(root) != 32:
        raise BadCheckpoint("checkpoint bevat geen geldige grootte of root")
    if origin != name:
        raise BadCheckpoint(f"checkpoint is van log {origin!r}, niet van {name!r}")
    return Checkpoint(origin=origin, size=int(size_text), root=root, note=note)
