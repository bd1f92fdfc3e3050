"""Signed OPA bundles: the key that signs them, building one, and how OPA is told to trust
only bundles signed by it.

The policy signing key is ECDSA P-256 (`ES256`, which OPA's bundle verification supports):
- `<keys_dir>/policy/bundle-signing-key.pem` (private, 0600): held only where operators
  build policy versions (`kmt policy build`), never by OPA or the services.
- `<keys_dir>/public/policy-bundle-key.pem`: the public half, the only key OPA gets.

OPA is configured (`opa_bundle_args`) to download its one bundle from a bundle server
(`services/policy/bundle_server.py`) and to verify its `.signatures.json` with that public
key: a bundle that is unsigned, signed by another key, or whose files do not match their
signed hashes is refused, and OPA keeps deciding with the bundle it had (OPA ≥ 1.21.3,
GHSA-g2pf-6v5v-qcc8; provision/versions.env pins the version).
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from services.common.keys import PUBLIC

SIGNING_ALG = "ES256"
KEY_ID = "kmt-policy"
"""The name of the verification key in OPA's configuration (`keys.<KEY_ID>`)."""
BUNDLE_NAME = "kmt"
"""The bundle's name in OPA's configuration and status (`bundles.<BUNDLE_NAME>`)."""
BUNDLE_RESOURCE = f"bundles/{BUNDLE_NAME}.tar.gz"
"""Where OPA fetches the active bundle, relative to the bundle server's URL."""
POLICY_FOLDER = "policy"
SIGNING_KEY_FILE = "bundle-signing-key.pem"
VERIFICATION_KEY_FILE = "policy-bundle-key.pem"


class BundleSigningFailed(RuntimeError):
    """`opa build` could not build or sign the bundle."""


def signing_key_path(keys_dir: Path) -> Path:
    return keys_dir / POLICY_FOLDER / SIGNING_KEY_FILE


def verification_key_path(keys_dir: Path) -> Path:
    return keys_dir / PUBLIC / VERIFICATION_KEY_FILE


def generate_policy_keys(keys_dir: Path) -> list[str]:
    """Create the policy signing key pair if it is missing; never replace it."""
    private, public = signing_key_path(keys_dir), verification_key_path(keys_dir)
    if private.exists():
        if public.exists():
            return []
        loaded = load_pem_private_key(private.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{SIGNING_KEY_FILE} is geen P-256-sleutel")
        _write(public, _public_pem(loaded), 0o644)
        return [f"{PUBLIC}/{VERIFICATION_KEY_FILE}"]
    generated = ec.generate_private_key(ec.SECP256R1())
    # Publish before use: a crash in between leaves an unused public key, never a bundle
    # that OPA cannot verify.
    _write(public, _public_pem(generated), 0o644)
    pem = generated.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    _write(private, pem, 0o600)
    return [f"{POLICY_FOLDER}/{SIGNING_KEY_FILE}", f"{PUBLIC}/{VERIFICATION_KEY_FILE}"]


def sign_bundle(opa: str, staged: Path, revision: str, keys_dir: Path, out: Path) -> None:
    """`opa build` the staged bundle directory `staged` into the signed `out` (.tar.gz),
    with `revision` in its manifest."""
    key = signing_key_path(keys_dir)
    if not key.exists():
        raise BundleSigningFailed(f"beleidssleutel ontbreekt ({key.name}): kmt keys generate")
    result = subprocess.run(
        [opa, "build", "--bundle", ".", "--signing-key", str(key.resolve()),
         "--signing-alg", SIGNING_ALG, "--revision", revision, "--output", str(out.resolve())],
        cwd=staged, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise BundleSigningFailed(f"opa build mislukte: {result.stderr.strip()[:500]}")


LONG_POLL_SECONDS = 30
"""How long OPA's bundle request waits at the bundle server for a switch."""


def opa_bundle_args(bundle_url: str, verification_key: Path, poll_seconds: int) -> list[str]:
    """`opa run` flags: the one bundle comes from `bundle_url` (a bundle server) and must be
    signed by the policy key; long-polled (`bundle_server.py`: an activation reaches OPA at
    once), else polled every `poll_seconds` to `2 × poll_seconds`."""
    bundle = f"bundles.{BUNDLE_NAME}"
    return [
        "--set", f"services.{BUNDLE_NAME}.url={bundle_url}",
        "--set", f"{bundle}.service={BUNDLE_NAME}",
        "--set", f"{bundle}.resource={BUNDLE_RESOURCE}",
        "--set", f"{bundle}.signing.keyid={KEY_ID}",
        "--set", f"{bundle}.polling.min_delay_seconds={poll_seconds}",
        "--set", f"{bundle}.polling.max_delay_seconds={2 * poll_seconds}",
        "--set", f"{bundle}.polling.long_polling_timeout_seconds={LONG_POLL_SECONDS}",
        "--set", f"keys.{KEY_ID}.algorithm={SIGNING_ALG}",
        "--set-file", f"keys.{KEY_ID}.key={verification_key}",
    ]  # fmt: skip


def _public_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def _write(path: Path, content: bytes, mode: int) -> None:
    """Write `content` atomically with `mode`, in a directory only the owner can enter."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
    os.replace(temporary, path)
