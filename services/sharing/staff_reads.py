"""Every staff read in sharing is recorded in audit's ledger before anything is shown.

The read and its `staff.accessed` event are one step: the event is committed in the outbox
(in the same transaction as the query, so it names exactly what is shown), and only then is
the answer returned. The relay publishes it until the broker acknowledges, so a read while
Kafka is unreachable is still recorded once it is back; audit turns it into `audit_access`
entries. If the commit fails, nothing is shown (no record, no answer).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from services.common.events import STAFF_ACCESSED, new_event
from services.common.models import StaffAccessed, StaffRead
from services.sharing.outbox import Outbox, StoredDisclosure
from services.sharing.worker import SOURCE


def read_recorded(
    outbox: Outbox,
    topic: str,
    staff_id: str,
    read: StaffRead,
    query: Callable[[], list[StoredDisclosure]],
) -> list[StoredDisclosure]:
    """Run `query` and commit the event naming the meldingen it found, in one transaction;
    return what it found only after that commit."""
    with outbox.transaction():
        found = query()
        melding_ids = list(dict.fromkeys(d.melding_id for d in found))
        actor = f"staff:{staff_id}"
        data = StaffAccessed(
            actor=actor,
            read=read,
            melding_ids=[uuid.UUID(m) for m in melding_ids],
            at=datetime.now(UTC),
        )
        # keyed by who read: one worker's reads stay in order on one partition
        event = new_event(type=STAFF_ACCESSED, source=SOURCE, subject=actor, data=data)
        outbox.enqueue(topic, event)
    return found
