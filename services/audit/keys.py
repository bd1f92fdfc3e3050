"""The audit service's own secrets, as files under `<keys_dir>/audit/` (0600, never committed).

- `audit-subject-key.json`: the HMAC key of the subject pseudonyms. Never rotated: a new key
  would make earlier entries unfindable for a data-subject request.
- `audit-checkpoint-key.json`: the Ed25519 key that signs checkpoints. Its public half is
  published (`GET /v1/audit/public-key`, `kmt audit public-key`) as a signed-note verifier key.

Each is created on first use (`load_or_create_secret`).
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.common.keys import load_or_create_secret

SUBJECT_KEY_FILE = "audit-subject-key.json"
CHECKPOINT_KEY_FILE = "audit-checkpoint-key.json"


def subject_key(keys_dir: Path) -> bytes:
    return load_or_create_secret(keys_dir / "audit" / SUBJECT_KEY_FILE, "hmac_sha256")


def checkpoint_key(keys_dir: Path) -> Ed25519PrivateKey:
    seed = load_or_create_secret(keys_dir / "audit" / CHECKPOINT_KEY_FILE, "ed25519_seed")
    return Ed25519PrivateKey.from_private_bytes(seed)
