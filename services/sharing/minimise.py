"""What one recipient may see of a melding: exactly the decision's `fields`, nothing else.

Deny by default (DESIGN.md invariant 3): the output is built up from the listed dotted paths;
nothing is copied and then removed, except the victim's direct identifiers, which
`pseudonymise:victim` strips even when a path lists them.

What the policy must withhold is never projected, whatever the decision lists (`withheld` in
`services.sharing.allowlist`, as in policies/kmt/lib/lib.rego): WPG or WGS data without
onward consent, police data in a melding from the police, and what is derived from either
(no pseudonym from a withheld BSN, no age from a withheld birth date). Sharing refuses such
a decision before it gets here (`refuse_forbidden`); this keeps the projection safe alone.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from datetime import datetime
from typing import Any

from services.common.durations import add_duration
from services.common.facts import age_on
from services.common.models import Decision, Melding, Victim, value_at
from services.policy.engine import RETENTION_PREFIX
from services.sharing.allowlist import AGE_PATH, POLICE_INVOLVED_PATH, PSEUDONYM_PATH, withheld

PSEUDONYMISE_VICTIM = "pseudonymise:victim"
VICTIM_IDENTIFIERS = ("name", "birth_date", "bsn", "address", "phone")

_COMPUTED_PATHS = frozenset({PSEUDONYM_PATH, POLICE_INVOLVED_PATH})


def minimise(melding: Melding, decision: Decision, pseudonym_key: bytes) -> dict[str, Any]:
    """The decision's `fields` of `melding`, projected by dotted path.

    `decision` may be a `Decision` or a `SharingDecided` (a subclass). `pseudonym_key` is the
    recipient's own secret, so one victim has one pseudonym per recipient.
    """
    source = melding.model_dump(mode="json")
    out: dict[str, Any] = {}
    listed = {path for path in decision.fields if not withheld(melding, path)}
    for path in sorted(listed - _COMPUTED_PATHS):
        value = _without_none(value_at(source, path))
        if value is not None:
            _place(out, path, value)
    if PSEUDONYMISE_VICTIM in decision.obligations and isinstance(out.get("victim"), dict):
        for identifier in VICTIM_IDENTIFIERS:
            out["victim"].pop(identifier, None)
        if not out["victim"]:
            del out["victim"]
    victim = melding.victim
    if PSEUDONYM_PATH in listed:
        pseudonym = victim_pseudonym(victim, pseudonym_key)
        if pseudonym is not None:
            _place(out, PSEUDONYM_PATH, pseudonym)
    if POLICE_INVOLVED_PATH in decision.fields:
        out[POLICE_INVOLVED_PATH] = True
    if AGE_PATH in listed and victim.age is None and victim.birth_date is not None:
        # The age the policy decided on, without the birth date it came from.
        _place(out, AGE_PATH, age_on(victim.birth_date, melding.received_at))
    return out


def victim_pseudonym(victim: Victim, pseudonym_key: bytes) -> str | None:
    """HMAC-SHA-256 (hex) of the victim's normalised identity; None if there is none."""
    identity = _normalised_identity(victim)
    if identity is None:
        return None
    return hmac.new(pseudonym_key, identity.encode(), hashlib.sha256).hexdigest()


def expires_at(created_at: datetime, obligations: list[str]) -> datetime | None:
    """`created_at` plus the shortest `retention:<ISO 8601 duration>`; None without one."""
    ends = [
        add_duration(created_at, obligation.removeprefix(RETENTION_PREFIX))
        for obligation in obligations
        if obligation.startswith(RETENTION_PREFIX)
    ]
    return min(ends, default=None)


def _normalised_identity(victim: Victim) -> str | None:
    if victim.bsn:
        return f"bsn:{victim.bsn}"
    if victim.name and victim.birth_date:
        name = " ".join(unicodedata.normalize("NFKC", victim.name).casefold().split())
        if name:
            return f"name:{name}|{victim.birth_date.isoformat()}"
    return None


def _without_none(value: Any) -> Any:
    """The value with every None member dropped, at any depth (absent and None look alike)."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(item) for item in value if item is not None]
    return value


def _place(out: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = out
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value  # a listed parent path may have placed it already: same value
