"""Policy versions: immutable, signed OPA bundles of a policy directory, in a store.

A version's id is the policy revision every decision names (`sha256:` + 16 hex of the
served files, `engine.policy_revision`); its manifest adds the full content hash, the
bundle's SHA-256, who built it, when and why. `VersionStore.build` refuses a candidate that
does not compile, fails its own tests, has unusable policy data or answers against the
decision contract (`candidate.py`), and writes nothing then. A stored version never changes:
building the same policies again returns it as it is, and an id already taken by other
content is refused.

Layout under `<data_dir>/policy/versions/`: `<hex>.tar.gz` (the signed bundle, what OPA
loads and a dry run evaluates), `<hex>.json` (the manifest) and `active` (the id the bundle
server hands to OPA; `set_active` is the bare switch that activation builds on).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from services.common.settings import Settings
from services.policy.bundle_signing import sign_bundle
from services.policy.candidate import CandidateRefused, check_contract, check_sources
from services.policy.engine import PolicyDataInvalid, find_opa_binary, policy_digest, write_bundle

ID_PATTERN = re.compile(r"^sha256:([0-9a-f]{16})$")
ACTIVE_FILE = "active"
_MAX_AUTHOR, _MAX_MESSAGE = 200, 2000


class VersionError(ValueError):
    """A version that cannot be built, found or trusted; the message says why, in Dutch."""


class VersionConflict(VersionError):
    """The id is taken by a version with other content: stored versions never change."""


class VersionCorrupt(VersionError):
    """A stored bundle no longer matches its manifest."""


@dataclass(frozen=True)
class Version:
    id: str
    content_sha256: str
    """SHA-256 of the policy files (`engine.policy_digest`); the id is its first 16 hex."""
    bundle_sha256: str
    """SHA-256 of the signed bundle file."""
    author: str
    created_at: datetime
    message: str
    bundle: Path
    """The signed bundle (.tar.gz): what OPA loads, and `opa eval --bundle` evaluates."""

    def manifest(self) -> dict[str, str]:
        fields = asdict(self)
        fields.pop("bundle")
        return {**fields, "created_at": self.created_at.isoformat()}


class VersionStore:
    def __init__(self, root: Path, keys_dir: Path) -> None:
        self.root = root
        self.keys_dir = keys_dir

    @classmethod
    def of(cls, settings: Settings) -> VersionStore:
        return cls(settings.data_dir / "policy" / "versions", settings.keys_dir)

    def build(self, directory: Path, author: str, message: str) -> Version:
        """Check the policies in `directory`, sign them into a bundle and store it as a
        version; the stored version if these exact policies were built before."""
        author, message = (
            _required(author, "auteur", _MAX_AUTHOR),
            _required(message, "toelichting", _MAX_MESSAGE),
        )
        if not directory.is_dir():
            raise VersionError(f"beleidsmap {directory} bestaat niet")
        opa = find_opa_binary()
        if opa is None:
            raise VersionError("OPA niet gevonden: voer `make provision` uit")
        check_sources(opa, directory)
        digest = policy_digest(directory)
        with tempfile.TemporaryDirectory(prefix="kmt-version-") as tmp:
            staged = Path(tmp) / "bundle"
            try:
                revision = write_bundle(directory, staged)
            except PolicyDataInvalid as exc:
                raise CandidateRefused(f"beleidsgegevens onbruikbaar: {exc}") from None
            if revision != f"sha256:{digest[:16]}":
                raise VersionError("het beleid veranderde tijdens het bouwen; probeer opnieuw")
            check_contract(opa, staged)
            existing = self._existing(revision, digest)
            if existing is not None:
                return existing
            signed = Path(tmp) / "bundle.tar.gz"
            sign_bundle(opa, staged, revision, self.keys_dir, signed)
            return self._store(revision, digest, signed, author, message)

    def load(self, version_id: str) -> Version:
        """The stored version `version_id`, its bundle checked against its manifest."""
        manifest = self._manifest_path(version_id)
        if not manifest.exists():
            raise VersionError(f"beleidsversie {version_id} bestaat niet")
        stored = json.loads(manifest.read_text(encoding="utf-8"))
        version = Version(
            id=stored["id"],
            content_sha256=stored["content_sha256"],
            bundle_sha256=stored["bundle_sha256"],
            author=stored["author"],
            created_at=datetime.fromisoformat(stored["created_at"]),
            message=stored["message"],
            bundle=manifest.with_suffix(".tar.gz"),
        )
        if version.id != version_id or _sha256(version.bundle) != version.bundle_sha256:
            raise VersionCorrupt(f"beleidsversie {version_id}: bundel klopt niet met manifest")
        return version

    def list(self) -> list[Version]:
        """Every stored version, oldest first."""
        if not self.root.exists():
            return []
        ids = [f"sha256:{path.stem}" for path in self.root.glob("*.json")]
        return sorted((self.load(i) for i in ids), key=lambda v: (v.created_at, v.id))

    def active(self) -> str | None:
        """The id of the version the bundle server hands to OPA; None before the first."""
        pointer = self.root / ACTIVE_FILE
        return pointer.read_text(encoding="utf-8").strip() or None if pointer.exists() else None

    def set_active(self, version_id: str, *, only_if_none: bool = False) -> bool:
        """Make `version_id` (a stored, intact version) the one OPA gets. With
        `only_if_none`, only when no version was active yet (a first install). Whether it
        was set. Approval and the ledger are activation's business, not this switch's."""
        self.load(version_id)
        pointer = self.root / ACTIVE_FILE
        temporary = self._temporary(version_id.encode())
        try:
            if only_if_none:
                try:
                    os.link(temporary, pointer)
                except FileExistsError:
                    return False
            else:
                os.replace(temporary, pointer)
        finally:
            temporary.unlink(missing_ok=True)
        return True

    def _existing(self, revision: str, digest: str) -> Version | None:
        if not self._manifest_path(revision).exists():
            return None
        version = self.load(revision)
        if version.content_sha256 != digest:
            raise VersionConflict(
                f"beleidsversie {revision} bestaat al met andere inhoud; versies veranderen niet"
            )
        return version

    def _store(
        self, revision: str, digest: str, signed: Path, author: str, message: str
    ) -> Version:
        manifest = self._manifest_path(revision)
        bundle = manifest.with_suffix(".tar.gz")
        version = Version(
            id=revision,
            content_sha256=digest,
            bundle_sha256=_sha256(signed),
            author=author,
            created_at=datetime.now(UTC),
            message=message,
            bundle=bundle,
        )
        # The bundle first, then the manifest: a version exists once its manifest does. A
        # bundle without one (a build that crashed in between) is replaced.
        signed_copy = self._temporary(signed.read_bytes())
        written = self._temporary(json.dumps(version.manifest(), indent=2).encode())
        try:
            if not manifest.exists():
                os.replace(signed_copy, bundle)
                os.link(written, manifest)
                return version
        except FileExistsError:
            pass  # built at the same moment elsewhere: theirs stands
        finally:
            signed_copy.unlink(missing_ok=True)
            written.unlink(missing_ok=True)
        existing = self._existing(revision, digest)
        assert existing is not None
        return existing

    def _manifest_path(self, version_id: str) -> Path:
        match = ID_PATTERN.fullmatch(version_id)
        if match is None:
            raise VersionError(f"ongeldige versie-id {version_id!r}: verwacht sha256:<16 hex>")
        return self.root / f"{match.group(1)}.json"

    def _temporary(self, content: bytes) -> Path:
        self.root.mkdir(mode=0o750, parents=True, exist_ok=True)
        path = self.root / f".{secrets.token_hex(8)}.tmp"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
        return path


def _required(text: str, what: str, limit: int) -> str:
    cleaned = text.strip()
    if not cleaned:
        raise VersionError(f"{what} ontbreekt")
    if len(cleaned) > limit:
        raise VersionError(f"{what} is te lang (hoogstens {limit} tekens)")
    return cleaned


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
