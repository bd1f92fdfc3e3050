"""Crypto-shredding a melding: destroy its data keys, then record that in the ledger.

After `erase`, every copy of the melding's ciphertext (each topic, each backup, sharing's
store) is unreadable, while the trail keeps verifying: its entries never held the melding's
values, only ids and keyed pseudonyms. The `erasure` entry says who, when and why — the why
as a fixed ground, never free text (which could name the person).

The retention job erases meldingen whose term has passed: the longest `retention:` obligation
among the melding's allowing decisions, and at least `melding_retention_days` (policy data for
meldingen that nobody received).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from services.audit.entry import Draft
from services.audit.ledger import Appended, Ledger, Query
from services.common.durations import add_duration
from services.keyring.datakeys import DataKeyStore

Ground = Literal["avg-art-17", "bewaartermijn"]
GROUNDS: dict[Ground, str] = {
    "avg-art-17": "AVG art. 17 (verzoek van de betrokkene)",
    "bewaartermijn": "AVG art. 5 lid 1 sub e (bewaartermijn verstreken)",
}
RETENTION = "retention:"
RETENTION_ACTOR = "kmt/retentie"


@dataclass(frozen=True)
class Erased:
    melding_id: str
    keys_destroyed: int
    entry: Appended


def erase(
    ledger: Ledger, store: DataKeyStore, melding_id: str, ground: Ground, actor: str
) -> Erased:
    """Destroy the keys first: if recording then fails, the melding is erased all the same
    and a second run records it (the entry's event id is fixed per melding)."""
    destroyed = store.destroy(melding_id)
    entry = ledger.append(
        Draft(
            type="erasure",
            event_id=f"erasure:{melding_id}",
            event_type="nl.kmt.melding.erased",
            actor=actor,
            melding_id=melding_id,
            legal_basis=(GROUNDS[ground],),
            reasons=(ground,),
            trace_id=melding_id,
        )
    )
    return Erased(melding_id, destroyed, entry)


def retention_ends(
    ledger: Ledger, melding_id: str, received: datetime, minimum_days: int
) -> datetime:
    """When the melding's term ends: its longest retention obligation, at least the minimum."""
    ends = [received + timedelta(days=minimum_days)]
    for entry in ledger.search(Query(melding_ids=[melding_id], limit=1000)):
        if entry.type == "decision" and entry.allow:
            ends += [
                add_duration(received, o.removeprefix(RETENTION))
                for o in entry.obligations
                if o.startswith(RETENTION)
            ]
    return max(ends)


def erase_expired(
    ledger: Ledger, store: DataKeyStore, minimum_days: int, now: datetime | None = None
) -> list[Erased]:
    """The retention job: erase every melding whose term has passed."""
    moment = now or datetime.now(UTC)
    cutoff = moment - timedelta(days=minimum_days)
    done = []
    for melding_id, created_at in store.keys_created_before(cutoff):
        if retention_ends(ledger, melding_id, created_at, minimum_days) <= moment:
            done.append(erase(ledger, store, melding_id, "bewaartermijn", RETENTION_ACTOR))
    return done
