"""Subject pseudonyms: keyed HMAC-SHA256 of a victim's normalised identity.

A victim may be identified by BSN, or by name and birth date; a melding that carries both
gets both pseudonyms, so a privacy officer who has only one of them still finds it. What was
hashed is never stored; without the audit service's key a pseudonym cannot be reversed or
recomputed from a guessed identity.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from datetime import date


def normalise_name(name: str) -> str:
    """Case, accents and spacing do not change who one is: `José  de Vries` = `jose de vries`."""
    decomposed = unicodedata.normalize("NFKD", name)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def identities(bsn: str | None, name: str | None, birth_date: date | None) -> list[str]:
    found = []
    if bsn:
        found.append(f"bsn:{bsn}")
    if name and name.strip() and birth_date:
        found.append(f"naam:{normalise_name(name)}|{birth_date.isoformat()}")
    return found


def pseudonyms(
    key: bytes, *, bsn: str | None, name: str | None, birth_date: date | None
) -> tuple[str, ...]:
    return tuple(
        hmac.new(key, identity.encode(), hashlib.sha256).hexdigest()
        for identity in identities(bsn, name, birth_date)
    )
