"""Subject pseudonyms: keyed HMAC-SHA256 of a data subject's normalised identity.

Victims and suspects are both data subjects (AVG art. 15 covers each of them). A victim may
be identified by BSN, or by name and birth date; a melding that carries both gets both
pseudonyms, so a privacy officer who has only one of them still finds it. A suspect is
identified by name and birth date. The role is bound into the pseudonym, so one person's
entries as a victim and as a suspect cannot be linked through the ledger, and the access
report knows in which role a melding concerns the person. What was hashed is never stored;
without the audit service's key a pseudonym cannot be reversed or recomputed from a guessed
identity.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from datetime import date
from typing import Literal

Role = Literal["slachtoffer", "verdachte"]
ROLES: tuple[Role, ...] = ("slachtoffer", "verdachte")


def normalise_name(name: str) -> str:
    """Case, accents and spacing do not change who one is: `José  de Vries` = `jose de vries`."""
    decomposed = unicodedata.normalize("NFKD", name)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def identities(
    bsn: str | None, name: str | None, birth_date: date | None, role: Role = "slachtoffer"
) -> list[str]:
    """What is hashed. A victim's identities are unprefixed, as before suspects were indexed;
    a suspect's carry the role (and never a BSN: a melding records none for a suspect)."""
    if role == "verdachte":
        return [f"verdachte|{i}" for i in identities(None, name, birth_date)]
    found = []
    if bsn:
        found.append(f"bsn:{bsn}")
    if name and name.strip() and birth_date:
        found.append(f"naam:{normalise_name(name)}|{birth_date.isoformat()}")
    return found


def pseudonyms(
    key: bytes,
    *,
    bsn: str | None,
    name: str | None,
    birth_date: date | None,
    role: Role = "slachtoffer",
) -> tuple[str, ...]:
    return tuple(
        hmac.new(key, identity.encode(), hashlib.sha256).hexdigest()
        for identity in identities(bsn, name, birth_date, role)
    )
