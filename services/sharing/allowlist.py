"""What sharing will seal for a recipient, whatever the policy says.

The policy decides which fields go (`Decision.fields`); this module is the last guard before
sealing, so that a typo in policy data or a broken rule cannot ship a BSN to the RIEC:

- `ALLOWED` is LEGAL.md's table per recipient, in code. A field outside it is refused.
- A field the policy itself must withhold is refused as well: data from the police (WPG) or
  a samenwerkingsverband (WGS) without onward consent, every field of a melding from the
  police unless a provenance entry releases it (LEGAL.md rule 10), and what is derived from
  such data (rule 11). `withheld` is the Python form of `withheld` in
  `policies/kmt/lib/lib.rego`; tests keep the two in step.

A refusal raises `ForbiddenDisclosure`, a `MalformedEvent`: the decision is dead-lettered
with the reason (the paths, never values) and an operator alarm is logged; nothing is sealed.
"""

from __future__ import annotations

import logging

from services.common.events import MalformedEvent
from services.common.models import Decision, Melding, Recipient

log = logging.getLogger(__name__)

PSEUDONYM_PATH = "victim.pseudonym"
AGE_PATH = "victim.age"
POLICE_INVOLVED_PATH = "police_involved"
MINIMISE_HEALTH = "minimise:health"
HEALTH_PATH = "victim.health_information"

_EVERYONE = frozenset({"exploitation_forms", "municipality", POLICE_INVOLVED_PATH})
_LOCATION = frozenset(
    {
        "location",
        "location.description",
        "location.address",
        "location.business_name",
        "location.kvk_number",
    }
)
_VICTIM_PROFILE = frozenset({"victim.gender", AGE_PATH, "victim.nationality"})
_VICTIM_IDENTITY = frozenset(
    {"victim.name", "victim.birth_date", "victim.bsn", "victim.address", "victim.phone"}
)

ALLOWED: dict[Recipient, frozenset[str]] = {
    "riec": _EVERYONE | _LOCATION | _VICTIM_PROFILE | {PSEUDONYM_PATH, "suspects"},
    "gemeente_veiligheid": _EVERYONE | _LOCATION | {"signals.risk_summary"},
    "veilig_thuis": _EVERYONE
    | _LOCATION
    | _VICTIM_PROFILE
    | _VICTIM_IDENTITY
    | {HEALTH_PATH, "suspects", "signals.narrative", "signals.risk_summary"},
}
"""LEGAL.md "Rules per recipient": the dotted paths each recipient may ever receive."""

REQUIRED_OBLIGATION = {HEALTH_PATH: MINIMISE_HEALTH}
"""A field that may go only with an obligation (health data to Veilig Thuis, minimised)."""

RESTRICTED_REGIMES = frozenset({"WPG", "WGS"})
"""As `restricted_regimes` in policies/kmt/config/data.json (a test keeps them equal)."""
POLICE_FREE_FIELDS = _EVERYONE
"""As `police_free_fields` in policies/kmt/config/data.json: not police data, even in a
melding from the police (a test keeps them equal)."""
POLICE = "politie"


class ForbiddenDisclosure(MalformedEvent):
    """A decision lists a field that may not be sealed for its recipient; nothing is shared."""


def refuse_forbidden(decision: Decision, melding: Melding) -> None:
    """Raise `ForbiddenDisclosure` (and log an operator alarm) if an allowing `decision`
    lists a field this recipient may never receive, or one the melding's provenance
    withholds. The reason names paths and ids, never values."""
    if not decision.allow:
        return
    problems = [
        *(f"{f} niet toegestaan voor {decision.recipient}" for f in _not_permitted(decision)),
        *(f"{f} vereist {REQUIRED_OBLIGATION[f]}" for f in _missing_obligation(decision)),
        *(f"{f} is politie- of WGS-gegeven" for f in decision.fields if withheld(melding, f)),
    ]
    if not problems:
        return
    reason = f"besluit {decision.policy_revision} zou verzegelen: {'; '.join(sorted(problems))}"
    log.error(
        "ALARM verboden-veld melding=%s ontvanger=%s beleid=%s: %s",
        melding.melding_id,
        decision.recipient,
        decision.policy_revision,
        "; ".join(sorted(problems)),
    )
    raise ForbiddenDisclosure(f"{reason}; er wordt niets gedeeld")


def permitted(recipient: Recipient, field: str) -> bool:
    """Whether `field` lies within what LEGAL.md lets `recipient` receive."""
    return any(_within(field, allowed) for allowed in ALLOWED[recipient])


def withheld(melding: Melding, field: str) -> bool:
    """Whether the policy must withhold `field` of `melding` for every recipient: it is
    restricted itself, or derived from a restricted source. `police_involved` never is."""
    if field == POLICE_INVOLVED_PATH:
        return False
    sources = derived_sources(melding).get(field, [])
    return _restricted(melding, field) or any(_restricted(melding, s) for s in sources)


def derived_sources(melding: Melding) -> dict[str, list[str]]:
    """The fields sharing computes, and the paths each is computed from (`victim_pseudonym`
    and `age_on`): the pseudonym from the BSN, else from name and birth date; the age from
    the birth date. Empty where nothing is computed (the age given as such)."""
    victim = melding.victim
    if victim.bsn:
        identity = ["victim.bsn"]
    elif victim.name and victim.name.strip() and victim.birth_date is not None:
        identity = ["victim.name", "victim.birth_date"]
    else:
        identity = []
    age = ["victim.birth_date"] if victim.birth_date is not None else []
    return {PSEUDONYM_PATH: identity, AGE_PATH: age}


def _restricted(melding: Melding, field: str) -> bool:
    """Covered by a WPG/WGS provenance without onward consent, or police data by default."""
    for entry in melding.provenance:
        if _restricting(entry.regime, entry.onward_consent) and any(
            _within(field, path) or _within(path, field) for path in entry.fields
        ):
            return True
    return melding.reporter.type == POLICE and _police_data(melding, field)


def _police_data(melding: Melding, field: str) -> bool:
    """In a melding from the police: not free, not computed, not released by provenance."""
    if field in POLICE_FREE_FIELDS or derived_sources(melding).get(field):
        return False
    return not any(
        not _restricting(entry.regime, entry.onward_consent)
        and any(_within(field, path) for path in entry.fields)
        for entry in melding.provenance
    )


def _restricting(regime: str, onward_consent: bool) -> bool:
    return regime in RESTRICTED_REGIMES and not onward_consent


def _not_permitted(decision: Decision) -> list[str]:
    return [f for f in decision.fields if not permitted(decision.recipient, f)]


def _missing_obligation(decision: Decision) -> list[str]:
    return [
        f
        for f in decision.fields
        if f in REQUIRED_OBLIGATION and REQUIRED_OBLIGATION[f] not in decision.obligations
    ]


def _within(field: str, path: str) -> bool:
    """`field` is `path` or lies under it (`location.address` lies within `location`)."""
    return field == path or field.startswith(f"{path}.")
