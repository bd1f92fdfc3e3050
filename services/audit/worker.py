"""The audit consumer: record each event, then publish the receipt of each of its entries
(never the other way round).

If the entry cannot be committed the handler raises, the consumer loop retries the same
record and commits no offset: no receipt goes out, so sharing releases nothing (fail closed).
"""

from __future__ import annotations

import asyncio

from services.audit.ledger import Ledger
from services.audit.recorder import RECORDED_TYPES, drafts_of, receipt_of
from services.bus.consumer import Record
from services.bus.kafka import Publisher
from services.common import topics
from services.common.events import parse_event
from services.common.settings import Settings
from services.keyring.vault import Opener

SERVICE = "audit"
CONSUMED = (topics.MELDINGEN, topics.DECISIONS, topics.DISCLOSURES, topics.POLICY)


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
        self.prefix = settings.topic_prefix

    async def handle(self, record: Record) -> None:
        # only the types of the record's own topic: its signature proves that topic's owner
        accepted = RECORDED_TYPES & topics.carried_by(record.topic, self.prefix)
        event = parse_event(record.value, set(accepted))
        drafts = drafts_of(event, self.subject_key, self.opener)
        appended = await asyncio.to_thread(self.ledger.append_many, drafts)
        for draft, entry in zip(drafts, appended, strict=True):
            await self.publisher.publish(self.receipts_topic, receipt_of(event, draft, entry))
