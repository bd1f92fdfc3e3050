"""Is a disclosure in KMT's audit trail? Its receipt checked against a signed checkpoint.

Each disclosure carries a receipt: `audit_seq`, where the audit service recorded it, and
`audit_entry_hash`, the hash of that ledger entry. The audit service publishes, to anyone, an
inclusion proof for every entry a signed checkpoint covers (RFC 9162 section 2.1.3, the
checkpoint a C2SP signed note). The check uses only what the partner holds itself: the
entry hash from its receipt becomes the leaf, and the checkpoint must carry a signature by
the audit's verifier key that the partner pinned once, out of band. A key fetched from the
same server along with the proof would prove nothing: whoever forges the one forges the other.

A checkpoint is signed every `KMT_AUDIT_CHECKPOINT_ENTRIES` entries or
`KMT_AUDIT_CHECKPOINT_SECONDS` seconds, so a fresh disclosure may not be covered yet: that is
`unchecked`, to be checked later with `kmt partner prove`, never a failure.

Copy this with `services/common/transparency.py` (standard library and `cryptography`).
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from services.common.transparency import (
    BadCheckpoint,
    leaf_hash,
    open_note,
    parse_verifier_key,
    verify_inclusion,
)

Outcome = Literal["verified", "unchecked", "failed"]
ENTRY_HASH = re.compile(r"[0-9a-f]{64}")
RETRY_AFTER_MAX = 30
"""After a 429, wait at most this many seconds (the server's `Retry-After`) and ask once more."""


@dataclass(frozen=True)
class Inclusion:
    """What the check found out about one receipt; `message` is for people, in Dutch."""

    outcome: Outcome
    message: str
    tree_size: int | None = None
    """The size of the signed checkpoint the entry was proven under."""


@dataclass
class TrailChecker:
    """Checks receipts against the audit service at `audit_url` with the pinned `verifier`
    key (`<name>+<key id>+<key>`, as `GET /v1/audit/public-key` gives it)."""

    audit_url: str
    verifier: str
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    def __post_init__(self) -> None:
        parse_verifier_key(self.verifier)  # BadCheckpoint now rather than at every check

    def check(self, item: Mapping[str, Any]) -> Inclusion:
        """Check the receipt a disclosure (as `GET /v1/disclosures` lists it) carries."""
        return self.prove(item.get("audit_seq"), item.get("audit_entry_hash"))

    def prove(self, seq: object, entry_hash: object, tree_size: int | None = None) -> Inclusion:
        """Is the entry `seq` with hash `entry_hash` in the trail, under the latest signed
        checkpoint or the one of `tree_size`?"""
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            return Inclusion("failed", "geen geldig audit_seq in het ontvangstbewijs")
        if not isinstance(entry_hash, str) or not ENTRY_HASH.fullmatch(entry_hash):
            return Inclusion("failed", "geen geldige audit_entry_hash in het ontvangstbewijs")
        try:
            response = self._proof(seq, tree_size)
            if response.status_code == 404 and tree_size is None:
                # no such entry, or no checkpoint at all yet: the latest one tells which
                latest = self._latest_size()
                if latest is None or latest <= seq:
                    return Inclusion("unchecked", f"seq {seq} valt nog niet onder een checkpoint")
                response = self._proof(seq, None)  # it may have been signed just now
        except httpx.HTTPError as error:
            return Inclusion("unchecked", f"audit-service niet bereikbaar ({type(error).__name__})")
        status = response.status_code
        if status == 409:
            return Inclusion("unchecked", f"seq {seq} valt nog niet onder een checkpoint")
        if status == 429 or status >= 500:
            return Inclusion("unchecked", f"audit-service antwoordt nu niet (HTTP {status})")
        if status != 200:
            return Inclusion("failed", f"audit-service geeft geen bewijs: {_detail(response)}")
        return self._verify(seq, entry_hash, tree_size, response)

    def _proof(self, seq: int, tree_size: int | None) -> httpx.Response:
        url = f"{self.audit_url.rstrip('/')}/v1/audit/entries/{seq}/proof"
        params = {} if tree_size is None else {"tree_size": tree_size}
        response = self.http.get(url, params=params)
        wait = response.headers.get("Retry-After", "")
        if response.status_code == 429 and wait.isdigit() and int(wait) <= RETRY_AFTER_MAX:
            time.sleep(int(wait))
            response = self.http.get(url, params=params)
        return response

    def _latest_size(self) -> int | None:
        """The size the latest checkpoint claims (unchecked: it only tells "not yet" from
        "no such entry"); None when there is none."""
        response = self.http.get(f"{self.audit_url.rstrip('/')}/v1/audit/checkpoints/latest")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        try:
            body = response.json()
        except ValueError:
            return None
        size = body.get("size") if isinstance(body, dict) else None
        return size if isinstance(size, int) else None

    def _verify(
        self, seq: int, entry_hash: str, tree_size: int | None, response: httpx.Response
    ) -> Inclusion:
        try:
            body = response.json()
            note, hashes = body["checkpoint"]["note"], body["proof"]
            proof = [base64.b64decode(h, validate=True) for h in hashes]
            if not isinstance(note, str) or any(len(p) != 32 for p in proof):
                raise TypeError
        except (ValueError, TypeError, KeyError, binascii.Error):
            return Inclusion("failed", "het antwoord van de audit-service is geen inclusiebewijs")
        try:
            checkpoint = open_note(note, self.verifier)
        except BadCheckpoint as error:
            return Inclusion("failed", f"checkpoint niet te vertrouwen: {error}")
        if tree_size is not None and checkpoint.size != tree_size:
            return Inclusion(
                "failed", f"checkpoint heeft grootte {checkpoint.size}, niet {tree_size}"
            )
        leaf = leaf_hash(bytes.fromhex(entry_hash))
        if not verify_inclusion(seq, checkpoint.size, leaf, proof, checkpoint.root):
            other = body.get("entry_hash") not in (None, entry_hash)
            return Inclusion(
                "failed",
                f"inclusiebewijs klopt niet voor seq {seq} onder checkpoint {checkpoint.size}"
                + (" (het grootboek noemt op die plek een andere entry-hash)" if other else ""),
                checkpoint.size,
            )
        return Inclusion(
            "verified",
            f"in het grootboek: seq {seq} onder ondertekend checkpoint {checkpoint.size}",
            checkpoint.size,
        )


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    return f"HTTP {response.status_code}" + (f", {detail}" if isinstance(detail, str) else "")
