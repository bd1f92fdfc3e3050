"""The audit consumer: record each event, then publish the receipt of each of its entries
(never the other way round).

A batch of records is recorded in one ledger transaction (`Ledger.append_many`: the hash
chain runs on through it, known event ids are skipped) and its receipts are sent together
once it committed. If the entries cannot be committed the handler raises, the consumer
retries record by record and commits no offset: no receipt goes out, so sharing releases
nothing (fail closed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from services.audit.cases import CaseFacts
from services.audit.counts import Counted
from services.audit.entry import Draft
from services.audit.ledger import Ledger
from services.audit.recorder import RECORDED_TYPES, drafts_of, melding_record, receipt_of
from services.audit.status import STEP_ENTRIES, status_events
from services.bus.consumer import Handling, Record
from services.bus.kafka import Publisher
from services.common import topics
from services.common.events import MELDING_RECEIVED, CloudEvent, parse_event
from services.common.settings import Settings
from services.keyring.vault import Opener
from services.observability import metrics

SERVICE = "audit"
CONSUMED = (
    topics.MELDINGEN,
    topics.DECISIONS,
    topics.DISCLOSURES,
    topics.POLICY,
    topics.ALERTS,
)


class Recorder:
    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        subject_key: bytes,
        publisher: Publisher,
        opener: Opener,
    ) -> None:
        self.ledger = ledger
        self.subject_key = subject_key
        self.opener = opener
        self.publisher = publisher
        self.receipts_topic = settings.topic(topics.AUDIT_RECEIPTS)
        self.status_topic = settings.topic(topics.STATUS)
        self.prefix = settings.topic_prefix

    def handling(self) -> Handling:
        return Handling(self.handle, self.handle_batch)

    async def handle(self, record: Record) -> None:
        await self.handle_batch([record])

    async def handle_batch(self, records: Sequence[Record]) -> None:
        """All of the records' entries in one transaction, then all their receipts; a record
        that cannot be read raises `MalformedEvent` before anything is written."""
        events = [self._event(record) for record in records]
        drafted: list[tuple[CloudEvent, Draft]] = []
        cases: dict[str, CaseFacts] = {}  # each melding's case index row (`audit.cases`)
        counts: dict[str, Counted] = {}  # and what it adds to the Cijfers (`audit.counts`)
        for event in events:
            if event.type == MELDING_RECEIVED:
                draft, cases[event.id], counts[event.id] = melding_record(
                    event, self.subject_key, self.opener
                )
                drafted.append((event, draft))
            else:
                drafted += [(event, d) for d in drafts_of(event, self.subject_key, self.opener)]
        appended = await asyncio.to_thread(
            self.ledger.append_many, [d for _, d in drafted], cases, counts
        )
        metrics.count_recorded(
            [d for (_, d), a in zip(drafted, appended, strict=True) if a.created]
        )
        # what the reporter may learn (`services.audit.status`), from what is now recorded
        touched = [d.melding_id for _, d in drafted if d.melding_id and d.type in STEP_ENTRIES]
        statuses = await asyncio.to_thread(status_events, self.ledger, touched)
        await self.publisher.publish_many(
            [
                *(
                    (self.receipts_topic, receipt_of(event, draft, entry))
                    for (event, draft), entry in zip(drafted, appended, strict=True)
                ),
                *((self.status_topic, status) for status in statuses),
            ]
        )

    def _event(self, record: Record) -> CloudEvent:
        # only the types of the record's own topic: its signature proves that topic's owner
        accepted = RECORDED_TYPES & topics.carried_by(record.topic, self.prefix)
        return parse_event(record.value, set(accepted))
