"""KMT's register of processing activities (verwerkingsregister), as versioned data
(`verwerkingsregister.json` beside this module): one entry per activity with its purpose,
legal basis and retention, each named by a stable URI with its version,
`urn:nl:kmt-twente:verwerkingsregister:<id>:v<version>`, which every LDV record cites.

The disclosures' purpose, legal bases and retention are the policies' own
(`policies/kmt/config/data.json`, which OPA decides with); `drift` names every fact in which
the two differ, and a test keeps that list empty, so they cannot drift apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

REGISTER = Path(__file__).with_name("verwerkingsregister.json")
ENTRY_ACTIVITY = {
    "melding": "ontvangen-melding",
    "decision": "besluiten-per-ontvanger",
    "alert": "besluiten-per-ontvanger",
    "erasure": "wissen",
}
"""Which activity a ledger entry of these types is a step of; a disclosure's steps are the
activity of its recipient (`Activity.policy_recipient`), an access report's `inzageverzoek`."""
DISCLOSURE_STEPS = ("disclosure", "review", "release", "ack")


@dataclass(frozen=True)
class Activity:
    id: str
    version: int
    name: str
    purpose: str
    legal_basis: tuple[str, ...]
    retention: str
    uri: str
    policy_recipient: str | None
    extra: dict[str, Any]
    """Further legal bases the policies name for some cases (`legal_basis_wgs`, …)."""


@dataclass(frozen=True)
class Register:
    activities: dict[str, Activity]

    def for_recipient(self, recipient: str) -> Activity:
        return next(a for a in self.activities.values() if a.policy_recipient == recipient)

    def activity_of(self, entry_type: str, recipient: str | None) -> Activity | None:
        """The activity a ledger entry is a step of; None for entries about no data subject
        (policy changes, staff reads)."""
        if entry_type in DISCLOSURE_STEPS and recipient:
            return self.for_recipient(recipient)
        name = ENTRY_ACTIVITY.get(entry_type)
        return self.activities[name] if name else None


@cache
def load(path: Path = REGISTER) -> Register:
    raw = json.loads(path.read_text())
    prefix = raw["uri_prefix"]
    activities = {}
    for entry in raw["activities"]:
        known = {"id", "version", "name", "purpose", "legal_basis", "retention"}
        activities[entry["id"]] = Activity(
            id=entry["id"],
            version=int(entry["version"]),
            name=entry["name"],
            purpose=entry["purpose"],
            legal_basis=tuple(entry["legal_basis"]),
            retention=entry["retention"],
            uri=f"{prefix}:{entry['id']}:v{entry['version']}",
            policy_recipient=entry.get("policy_recipient"),
            extra={k: v for k, v in entry.items() if k not in known | {"policy_recipient"}},
        )
    return Register(activities)


def drift(register: Register, policy_data: dict[str, Any]) -> list[str]:
    """Every fact of a disclosure in which the register and the policies' data differ."""
    found = []
    recipients = policy_data["recipients"]
    for activity in register.activities.values():
        if activity.policy_recipient is None:
            continue
        policy = recipients[activity.policy_recipient]
        cited = {
            "purpose": activity.purpose,
            "legal_basis": list(activity.legal_basis),
            "retention": activity.retention,
            **activity.extra,
        }
        stated = {
            k: v
            for k, v in policy.items()
            if k in ("purpose", "retention") or k.startswith("legal_basis")
        }
        for key in sorted(cited.keys() | stated.keys()):
            if cited.get(key) != stated.get(key):
                found.append(f"{activity.id}: {key}")
    return found
