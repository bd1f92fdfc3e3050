"""Each recipient's own reference to a melding, instead of KMT's melding id.

Two recipients of the same melding must not be able to link what they received through an
identifier of KMT's (LEGAL: purpose limitation per recipient). So a partner never sees the
melding id: its disclosures name the melding by `melding_ref`, an HMAC-SHA-256 of the
melding id and the partner's id under a secret that only sharing holds
(`<keys_dir>/sharing/melding-reference-key.json`). It is stable for one partner (its
disclosures about one melding share it) and different for every other partner; without the
secret nobody can compute it from a melding id or relate two partners' references. As with
the victim pseudonym the secret is never rotated: a new one would give every melding a new
reference. KMT itself links a reference to its melding through the disclosure it was sealed
in (the ledger records disclosures by melding id).
"""

from __future__ import annotations

import hashlib
import hmac
import json

from services.common.keys import load_or_create_secret
from services.common.settings import Settings

REFERENCE_KEY_FILE = "melding-reference-key.json"
_DOMAIN = "kmt/melding_ref/v1"


def reference_key(settings: Settings) -> bytes:
    """Sharing's secret for melding references, created on first use."""
    return load_or_create_secret(settings.keys_dir / "sharing" / REFERENCE_KEY_FILE, "hmac_sha256")


def melding_reference(key: bytes, melding_id: str, partner_id: str) -> str:
    """The partner's own reference (hex) to the melding."""
    message = json.dumps([_DOMAIN, partner_id, melding_id]).encode()  # unambiguous
    return hmac.new(key, message, hashlib.sha256).hexdigest()
