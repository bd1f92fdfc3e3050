"""KMT's own key material, in files under `settings.keys_dir` (0600, never committed), one
folder per service that holds it, so that each container mounts only its own folder (and
`public/`, which holds only public keys):

- `sharing/signing-key.json`: the current Ed25519 key that signs disclosures (private JWK,
  `kid` is its RFC 7638 thumbprint).
- `public/signing-public.jwks.json`: the public halves of every signing key ever used,
  newest first, so disclosures signed before a rotation stay verifiable. Old private keys
  are not kept.
- `intake/token-key.json`, `sharing/token-key.json`: the Ed25519 key with which each of the
  two partner-facing services signs its own access tokens. Tokens live minutes, so rotating
  one only makes partners ask for a new token.
- `sharing/pseudonym-secrets.json`: one 256-bit secret per recipient. Never rotated: a new
  secret would give every victim a new pseudonym and break the recipient's case linking.

Other services' secrets (event keys, audit keys, Kafka passwords) live in the same folders.
"""

from __future__ import annotations

import json
import os
import secrets
import warnings
from pathlib import Path
from typing import Any

from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet, OKPKey

from services.common.models import RECIPIENTS, Recipient
from services.common.settings import get_settings

SIGNING_ALG = "EdDSA"
"""JWS `alg` for Ed25519 (RFC 8037). RFC 9864 deprecates it in favour of `Ed25519`, but
partners' JOSE libraries widely support `EdDSA` and not yet `Ed25519`; the key is the same."""

warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)

SIGNING_KEY_FILE = "signing-key.json"
SIGNING_PUBLIC_FILE = "signing-public.jwks.json"
TOKEN_KEY_FILE = "token-key.json"
PSEUDONYM_SECRETS_FILE = "pseudonym-secrets.json"
PUBLIC = "public"
TOKEN_ISSUERS = ("intake", "sharing")
_FOLDER = {
    SIGNING_KEY_FILE: "sharing",
    SIGNING_PUBLIC_FILE: PUBLIC,
    PSEUDONYM_SECRETS_FILE: "sharing",
}


class KeyMaterialMissing(RuntimeError):
    """A key file is absent: run `kmt keys generate`."""


def generate_keys(keys_dir: Path | None = None) -> list[str]:
    """Create whatever key material is missing; never overwrite. Returns the files created."""
    directory = _directory(keys_dir)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    created: list[str] = []
    if not _path(directory, SIGNING_KEY_FILE).exists():
        generate_signing_key(directory)
        created += [SIGNING_KEY_FILE, SIGNING_PUBLIC_FILE]
    for service in TOKEN_ISSUERS:
        if not (directory / service / TOKEN_KEY_FILE).exists():
            generate_token_key(directory, service)
            created.append(f"{service}/{TOKEN_KEY_FILE}")
    stored = _read_json(_path(directory, PSEUDONYM_SECRETS_FILE), default={})
    missing = {r: secrets.token_hex(32) for r in RECIPIENTS if r not in stored}
    if missing:
        write_private_json(_path(directory, PSEUDONYM_SECRETS_FILE), stored | missing)
        created.append(PSEUDONYM_SECRETS_FILE)
    return created


def generate_signing_key(keys_dir: Path | None = None) -> OKPKey:
    """A new current signing key; its public half joins the published set (rotation)."""
    directory = _directory(keys_dir)
    key = new_ed25519_key()
    # Publish before use: a crash in between leaves an unused public key, never a signature
    # that nobody can verify.
    published = _read_json(_path(directory, SIGNING_PUBLIC_FILE), default={"keys": []})
    write_private_json(
        _path(directory, SIGNING_PUBLIC_FILE), {"keys": [public_jwk(key), *published["keys"]]}
    )
    write_private_json(_path(directory, SIGNING_KEY_FILE), key.as_dict(private=True))
    return key


def generate_token_key(keys_dir: Path | None, service: str) -> OKPKey:
    """A new key for `service`'s access tokens, replacing the old one (tokens signed by it
    stop working)."""
    key = new_ed25519_key()
    write_private_json(_directory(keys_dir) / service / TOKEN_KEY_FILE, key.as_dict(private=True))
    return key


def load_signing_key(keys_dir: Path | None = None) -> OKPKey:
    return OKPKey.import_key(_read_required(keys_dir, SIGNING_KEY_FILE))


def public_keyset(keys_dir: Path | None = None) -> KeySet:
    """Every public signing key KMT has used, newest (current) first."""
    return KeySet.import_key_set(_read_required(keys_dir, SIGNING_PUBLIC_FILE))


def load_token_key(keys_dir: Path | None, service: str) -> OKPKey:
    return OKPKey.import_key(_read_required(keys_dir, f"{service}/{TOKEN_KEY_FILE}"))


def pseudonym_key(recipient: Recipient, keys_dir: Path | None = None) -> bytes:
    stored = _read_required(keys_dir, PSEUDONYM_SECRETS_FILE)
    if recipient not in stored:
        raise KeyMaterialMissing(f"geen pseudoniemsleutel voor {recipient}: kmt keys generate")
    return bytes.fromhex(stored[recipient])


def new_ed25519_key() -> OKPKey:
    key = OKPKey.generate_key("Ed25519", parameters={"use": "sig", "alg": SIGNING_ALG})
    key.ensure_kid()
    return key


def public_jwk(key: OKPKey) -> dict[str, Any]:
    return dict(key.as_dict(private=False))


def write_private_json(path: Path, value: Any) -> None:
    """Write JSON readable by the owner only (0600), atomically, directory 0700."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(value, handle, indent=2)
    os.replace(temporary, path)


def load_or_create_secret(path: Path, name: str) -> bytes:
    """A 256-bit secret kept in `path` (0600) under `name`, created on first use.

    Several instances may start at once: the file is linked into place only if absent, and
    everyone then reads what won."""
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
    return bytes.fromhex(value)


def _directory(keys_dir: Path | None) -> Path:
    return keys_dir if keys_dir is not None else get_settings().keys_dir


def _read_json(path: Path, *, default: Any) -> Any:
    if not path.exists():
        return default
    return json.loads(path.read_text())


def _path(directory: Path, name: str) -> Path:
    return directory / _FOLDER[name] / name


def _read_required(keys_dir: Path | None, name: str) -> Any:
    directory = _directory(keys_dir)
    path = _path(directory, name) if name in _FOLDER else directory / name
    if not path.exists():
        raise KeyMaterialMissing(f"sleutelbestand {name} ontbreekt: kmt keys generate")
    return json.loads(path.read_text())
