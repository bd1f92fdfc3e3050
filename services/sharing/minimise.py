"""What one recipient may see of a melding: exactly the decision's `fields`, nothing else.

Deny by default (DESIGN.md invariant 3): the output is built up from the listed dotted paths;
nothing is copied and then removed, except the victim's direct identifiers, which
`pseudonymise:victim` strips even when a path lists them.

Derived data follows its source, as in the policy (`withheld` in policies/kmt/lib/lib.rego):
no pseudonym is computed from, and no age from, a field whose provenance is WPG or WGS
without onward consent, whatever the decision lists.
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

PSEUDONYM_PATH = "victim.pseudonym"
AGE_PATH = "victim.age"
POLICE_INVOLVED_PATH = "police_involved"
PSEUDONYMISE_VICTIM = "pseudonymise:victim"
RETENTION_PREFIX = "retention:"
VICTIM_IDENTIFIERS = ("name", "birth_date", "bsn", "address", "phone")

RESTRICTED_REGIMES = frozenset({"WPG", "WGS"})
"""As `restricted_regimes` in policies/kmt/config/data.json (a test keeps them equal)."""

_COMPUTED_PATHS = frozenset({PSEUDONYM_PATH, POLICE_INVOLVED_PATH})


def minimise(melding: Melding, decision: Decision, pseudonym_key: bytes) -> dict[str, Any]:
    """The decision's `fields` of `melding`, projected by dotted path.

    `decision` may be a `Decision` or a `SharingDecided` (a subclass). `pseudonym_key` is the
    recipient's own secret, so one victim has one pseudonym per recipient.
    """
    source = melding.model_dump(mode="json")
    out: dict[str, Any] = {}
    for path in sorted(set(decision.fields) - _COMPUTED_PATHS):
        value = _without_none(value_at(source, path))
        if value is not None:
            _place(out, path, value)
    if PSEUDONYMISE_VICTIM in decision.obligations and isinstance(out.get("victim"), dict):
        for identifier in VICTIM_IDENTIFIERS:
            out["victim"].pop(identifier, None)
        if not out["victim"]:
            del out["victim"]
    victim = melding.victim
    identity = _identity_sources(victim)
    if PSEUDONYM_PATH in decision.fields and not _any_restricted(melding, identity):
        pseudonym = victim_pseudonym(victim, pseudonym_key)
        if pseudonym is not None:
            _place(out, PSEUDONYM_PATH, pseudonym)
    if POLICE_INVOLVED_PATH in decision.fields:
        out[POLICE_INVOLVED_PATH] = True
    if (
        AGE_PATH in decision.fields
        and victim.age is None
        and victim.birth_date is not None
        and not _any_restricted(melding, ["victim.birth_date"])
    ):
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


def _identity_sources(victim: Victim) -> list[str]:
    """The paths `_normalised_identity` computes the pseudonym from."""
    if victim.bsn:
        return ["victim.bsn"]
    return ["victim.name", "victim.birth_date"]


def _any_restricted(melding: Melding, paths: list[str]) -> bool:
    """Whether a WPG or WGS provenance without onward consent covers one of `paths`."""
    return any(
        _covers(restricted, path)
        for entry in melding.provenance
        if entry.regime in RESTRICTED_REGIMES and not entry.onward_consent
        for restricted in entry.fields
        for path in paths
    )


def _covers(a: str, b: str) -> bool:
    """One path is the other or lies under it (`victim` covers `victim.bsn`)."""
    return a == b or b.startswith(f"{a}.") or a.startswith(f"{b}.")


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
