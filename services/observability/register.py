"""KMT's register of processing activities (verwerkingsregister), as versioned data
(`verwerkingsregister.json` beside this module): one entry per activity with its purpose,
legal basis and retention, each named by a stable URI with its version,
`urn:nl:kmt-twente:verwerkingsregister:<id>:v<version>`, which every LDV record cites.

The disclosures' purpose, legal bases and retention live in one place: the policies' data
(`policies/kmt/config/data.json`), which OPA decides with. Their register entries take them
from there and pin which facts they describe (`policy_facts_sha256`); `drift` names every
entry whose facts changed without a new version, and a test keeps that list empty.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from services.policy.engine import CONFIG, POLICIES

REGISTER = Path(__file__).with_name("verwerkingsregister.json")
POLICY_DATA = POLICIES / CONFIG
ENTRY_ACTIVITY = {
    "melding": "ontvangen-melding",
    "decision": "besluiten-per-ontvanger",
    "alert": "besluiten-per-ontvanger",
    "erasure": "wissen",
}
"""Which activity a ledger entry of these types is a step of; a disclosure's steps are the
activity of its recipient (`Activity.policy_recipient`), an access report's `inzageverzoek`."""
DISCLOSURE_STEPS = ("disclosure", "review", "release", "ack")
ACCESS_REPORT = "audit.access_report"
"""The `event_type` of the `audit_access` entry of an answered inzageverzoek."""


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
    pinned: str | None
    """For a disclosure: the SHA-256 of the policies' facts its version describes."""

    def facts(self) -> dict[str, Any]:
        return {
            "purpose": self.purpose,
            "legal_basis": list(self.legal_basis),
            "retention": self.retention,
            **self.extra,
        }


@dataclass(frozen=True)
class Register:
    activities: dict[str, Activity]

    def for_recipient(self, recipient: str) -> Activity:
        return next(a for a in self.activities.values() if a.policy_recipient == recipient)

    def activity_of(
        self, entry_type: str, recipient: str | None, event_type: str | None = None
    ) -> Activity | None:
        """The activity a ledger entry is a step of; None for entries about no data subject
        (policy changes, staff reads of the trail or the queue)."""
        if entry_type in DISCLOSURE_STEPS and recipient:
            return self.for_recipient(recipient)
        if entry_type == "audit_access" and event_type == ACCESS_REPORT:
            return self.activities["inzageverzoek"]
        name = ENTRY_ACTIVITY.get(entry_type)
        return self.activities[name] if name else None


def policy_facts(recipient: dict[str, Any]) -> dict[str, Any]:
    """What a disclosure's register entry cites of the policies: purpose, legal bases (also
    those for some cases only: `legal_basis_wgs`, …) and retention."""
    return {
        k: v
        for k, v in sorted(recipient.items())
        if k in ("purpose", "retention") or k.startswith("legal_basis")
    }


def facts_sha256(facts: dict[str, Any]) -> str:
    canonical = json.dumps(facts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@cache
def load(path: Path = REGISTER, policy_data: Path = POLICY_DATA) -> Register:
    raw = json.loads(path.read_text())
    recipients = json.loads(policy_data.read_text())["recipients"]
    prefix = raw["uri_prefix"]
    activities = {}
    for entry in raw["activities"]:
        recipient = entry.get("policy_recipient")
        facts = policy_facts(recipients[recipient]) if recipient else entry
        activities[entry["id"]] = Activity(
            id=entry["id"],
            version=int(entry["version"]),
            name=entry["name"],
            purpose=facts["purpose"],
            legal_basis=tuple(facts["legal_basis"]),
            retention=facts["retention"],
            uri=f"{prefix}:{entry['id']}:v{entry['version']}",
            policy_recipient=recipient,
            extra={k: v for k, v in facts.items() if k.startswith("legal_basis_")},
            pinned=entry.get("policy_facts_sha256"),
        )
    return Register(activities)


def drift(register: Register) -> list[str]:
    """The disclosures whose facts in the policies changed since their register entry was
    last versioned: what a privacy officer reads under an old URI would no longer hold."""
    return [
        f"{a.id}: de feiten in het beleid zijn gewijzigd; verhoog version en werk "
        "policy_facts_sha256 bij"
        for a in register.activities.values()
        if a.policy_recipient is not None and a.pinned != facts_sha256(a.facts())
    ]
