"""The audit service's own secrets, as files under `settings.keys_dir` (0600, never committed).

- `audit-subject-key.json`: the HMAC key of the subject pseudonyms. Never rotated: a new key
  would make earlier entries unfindable for a data-subject request.
- `audit-checkpoint-key.json`: the Ed25519 key that signs checkpoints. Its public half is
  published (`GET /v1/audit/public-key`, `kmt audit public-key`) as a signed-note verifier key.

Each is created on first use. Several instances may start at once: the file is linked into
place only if absent, and everyone then reads what won.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SUBJECT_KEY_FILE = "audit-subject-key.json"
CHECKPOINT_KEY_FILE = "audit-checkpoint-key.json"


def subject_key(keys_dir: Path) -> bytes:
    return bytes.fromhex(_load_or_create(keys_dir / SUBJECT_KEY_FILE, "hmac_sha256"))


def checkpoint_key(keys_dir: Path) -> Ed25519PrivateKey:
    seed = bytes.fromhex(_load_or_create(keys_dir / CHECKPOINT_KEY_FILE, "ed25519_seed"))
    return Ed25519PrivateKey.from_private_bytes(seed)


def _load_or_create(path: Path, name: str) -> str:
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump({name: secrets.token_hex(32)}, handle)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another instance was first; use its key
        finally:
            temporary.unlink()
    value = json.loads(path.read_text())[name]
    if not isinstance(value, str) or len(value) != 64:
        raise ValueError(f"sleutelbestand {path.name} is beschadigd")
    return value
