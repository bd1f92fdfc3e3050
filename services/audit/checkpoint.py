"""Signed checkpoints in the C2SP `tlog-checkpoint` / `signed-note` format, Ed25519.

A checkpoint is the note text

    <origin>\\n<tree size>\\n<base64 root hash>\\n

followed by a blank line and one signature line `— <key name> <base64(key id || signature)>`.
The key id is the first 4 bytes of SHA-256(key name || "\\n" || 0x01 || public key), and the
public key is published as the verifier key `<name>+<hex key id>+<base64(0x01 || key)>`, so
anyone can check a checkpoint with standard tools (e.g. golang.org/x/mod/sumdb/note).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ORIGIN = "kmt-twente/audit/v1"
ED25519 = b"\x01"
DASH = "\u2014"


class BadCheckpoint(ValueError):
    """A checkpoint that does not parse or whose signature does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    note: str
    """The whole signed note, as published."""


def key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public).digest()[:4]


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def verifier_key(public: Ed25519PublicKey, name: str = ORIGIN) -> str:
    raw = _raw(public)
    return f"{name}+{key_id(name, raw).hex()}+{base64.b64encode(ED25519 + raw).decode()}"


def parse_verifier_key(text: str) -> tuple[str, Ed25519PublicKey]:
    try:
        name, hex_id, encoded = text.strip().split("+", 2)
        data = base64.b64decode(encoded, validate=True)
    except ValueError as exc:
        raise BadCheckpoint("verifier key heeft niet de vorm naam+id+sleutel") from exc
    if data[:1] != ED25519 or len(data) != 33 or key_id(name, data[1:]).hex() != hex_id:
        raise BadCheckpoint("verifier key is geen geldige Ed25519-sleutel voor deze naam")
    return name, Ed25519PublicKey.from_public_bytes(data[1:])


def sign(key: Ed25519PrivateKey, size: int, root: bytes, origin: str = ORIGIN) -> Checkpoint:
    body = f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
    signature = key_id(origin, _raw(key.public_key())) + key.sign(body.encode())
    note = f"{body}\n{DASH} {origin} {base64.b64encode(signature).decode()}\n"
    return Checkpoint(origin=origin, size=size, root=root, note=note)


def open_note(note: str, verifier: str) -> Checkpoint:
    """Parse `note` and check its signature by `verifier`; `BadCheckpoint` otherwise."""
    name, public = parse_verifier_key(verifier)
    body, separator, signatures = note.partition("\n\n")
    lines = body.split("\n")
    if not separator or len(lines) < 3:
        raise BadCheckpoint("checkpoint heeft niet de signed-note-vorm")
    body += "\n"
    wanted = key_id(name, _raw(public))
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
            public.verify(signature[4:], body.encode())
        except InvalidSignature:
            raise BadCheckpoint("handtekening van de checkpoint klopt niet") from None
        checkpoint = _parse_body(lines, note)
        if checkpoint.origin != name:
            raise BadCheckpoint(f"checkpoint is van log {checkpoint.origin!r}, niet van {name!r}")
        return checkpoint
    raise BadCheckpoint(f"checkpoint is niet ondertekend door {name}")


def _parse_body(lines: list[str], note: str) -> Checkpoint:
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    try:
        size = int(size_text)
        root = base64.b64decode(root_text, validate=True)
    except ValueError:
        raise BadCheckpoint("checkpoint bevat geen geldige grootte of root") from None
    if size < 0 or len(root) != 32:
        raise BadCheckpoint("checkpoint bevat geen geldige grootte of root")
    return Checkpoint(origin=origin, size=size, root=root, note=note)
