"""What a KMT worker judges in a `review:human` disclosure, and the reason they give.

When sharing makes a disclosure that waits for review, it keeps a *brief* beside it: the
part of the melding the reviewer must weigh (the age evidence, the signals with their
narrative, the forms of exploitation, and the policy's reasons for asking), never the rest.
Sharing deletes its copy of the melding once the melding's three decisions are processed, so
the brief is all of the content that stays, and only until the verdict.

The brief and the reviewer's reason are encrypted under the melding's own data key
(`Opener.seal_alongside`), with sharing's existing reader key and no key of their own: `kmt
erase` and the retention job destroy that key, and with it every copy of both. The ledger
gets the SHA-256 of the encrypted reason, not of the text: a hash of a short free text could
be guessed back, the ciphertext's cannot, and it still binds what sharing keeps to the entry.
"""

from __future__ import annotations

import hashlib
from typing import Any

from services.common.facts import victim_age
from services.common.models import Decision, Melding, SharingDecided
from services.keyring.vault import MeldingErased, Opener, SealBroken
from services.sharing.api_models import AgeEvidence, ReviewBrief
from services.sharing.outbox import Outbox, StoredDisclosure

REVIEW_HUMAN = "review:human"

DESTROYED = ""
"""What a rejected disclosure's `jwe` becomes in sharing's store: its ciphertext is gone."""


class ReviewRefused(Exception):
    """A verdict that cannot be recorded as asked; the message is for the reviewer (Dutch)."""


def brief_of(melding: Melding, decision: Decision) -> ReviewBrief:
    victim = melding.victim
    return ReviewBrief(
        received_at=melding.received_at,
        exploitation_forms=list(melding.exploitation_forms),
        age_evidence=AgeEvidence(
            age=victim.age, birth_date=victim.birth_date, age_at_received=victim_age(melding)
        ),
        signals=melding.signals,
        reasons=list(decision.reasons),
    )


def sealed_brief(
    opener: Opener, outbox: Outbox, decision: SharingDecided, melding: Melding
) -> str | None:
    """For a disclosure that waits for review: its brief, under the melding's data key."""
    if REVIEW_HUMAN not in decision.obligations:
        return None
    melding_id = str(decision.melding_id)
    sealed = outbox.melding(melding_id)  # deleted only once the melding's decisions are done
    assert sealed is not None
    brief = brief_of(melding, decision).model_dump_json().encode()
    return opener.seal_alongside(melding_id, sealed, brief)


def open_brief(opener: Opener, melding_id: str, sealed: str) -> ReviewBrief:
    """The brief; `ReviewRefused` when the melding was erased meanwhile."""
    try:
        return ReviewBrief.model_validate_json(opener.open(melding_id, sealed))
    except MeldingErased:
        raise ReviewRefused("De melding is gewist; er valt niets meer te beoordelen") from None


def seal_reason(
    opener: Opener, melding_id: str, sealed_brief: str | None, reason: str
) -> tuple[str, str]:
    """The reason encrypted under the melding's data key, and the SHA-256 of that ciphertext
    (what the ledger keeps)."""
    if sealed_brief is None:
        raise ReviewRefused("Bij deze disclosure is geen inhoud bewaard; beoordelen kan niet")
    try:
        sealed = opener.seal_alongside(melding_id, sealed_brief, reason.encode())
    except (MeldingErased, SealBroken):
        raise ReviewRefused("De melding is gewist; er valt niets meer te beoordelen") from None
    return sealed, hashlib.sha256(sealed.encode()).hexdigest()


def verdict(
    opener: Opener, outbox: Outbox, stored: StoredDisclosure, approve: bool, reason: str
) -> tuple[str, str | None, dict[str, Any]]:
    """What a first verdict records: the sealed reason, its hash, and the disclosure's event
    as it stays (rejected: without the partner's ciphertext; its hash stays, as in the
    ledger). A disclosure reviewed already gets nothing new (the store keeps the first)."""
    current = outbox.disclosure(stored.disclosure_id)
    if current is not None and current.review is not None:  # a retry, or a conflict
        return "", None, stored.event
    brief = outbox.sealed_review(stored.disclosure_id)[0]
    sealed, digest = seal_reason(opener, stored.melding_id, brief, reason)
    event = stored.event
    if not approve:
        event = {**event, "data": {**event["data"], "jwe": DESTROYED}}
    return sealed, digest, event
