"""The audit consumer: record each event, then publish its receipt (never the other way round).

If the entry cannot be committed the handler raises, the consumer loop retries the same
record and commits no offset: no receipt goes out, so sharing releases nothing (fail closed).
"""

from __future__ import annotations

import asyncio

from services.audit.ledger import Ledger
from services.audit.recorder import RECORDED_TYPES, draft_of, receipt_of
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

    async def handle(self, record: Record) -> None:
        event = parse_event(record.value, RECORDED_TYPES)
        draft = draft_of(event, self.subject_key, self.opener)
        appended = await asyncio.to_thread(self.ledger.append, draft)
        await self.publisher.publish(self.receipts_topic, receipt_of(event, draft, appended))
