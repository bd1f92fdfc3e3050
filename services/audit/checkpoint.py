"""Signing checkpoints: C2SP `tlog-checkpoint` notes in the C2SP `signed-note` format, Ed25519.

The format, and opening a note with a verifier key, are in `services.common.transparency`
(what partners check them with); this is the signing half, which only the audit service holds.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.common.transparency import DASH, ED25519, key_id, raw_public
from services.common.transparency import BadCheckpoint as BadCheckpoint
from services.common.transparency import Checkpoint as Checkpoint
from services.common.transparency import open_note as open_note
from services.common.transparency import parse_verifier_key as parse_verifier_key

ORIGIN = "kmt-twente/audit/v1"


def verifier_key(public: Ed25519PublicKey, name: str = ORIGIN) -> str:
    raw = raw_public(public)
    return f"{name}+{key_id(name, raw).hex()}+{base64.b64encode(ED25519 + raw).decode()}"


def sign(key: Ed25519PrivateKey, size: int, root: bytes, origin: str = ORIGIN) -> Checkpoint:
    body = f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
    signature = key_id(origin, raw_public(key.public_key())) + key.sign(body.encode())
    note = f"{body}\n{DASH} {origin} {base64.b64encode(signature).decode()}\n"
    return Checkpoint(origin=origin, size=size, root=root, note=note)
