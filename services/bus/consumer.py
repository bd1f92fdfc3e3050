"""At-least-once consumption with idempotent handlers.

One record at a time: its signature is checked (`services.bus.signing`), the handler runs,
and only then is the offset committed. A handler
signals a malformed record by raising `MalformedEvent`: the record's position and the reason
go to the dead-letter topic and the stream goes on. Any other failure is treated as
transient: the same record is retried with backoff and its offset is not committed (fail
closed). Handlers must therefore be idempotent by event id.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError

from services.bus.client import bus_login
from services.bus.kafka import Publisher
from services.bus.signing import EventVerifier, load_verifier
from services.common.events import DEAD_LETTERED, MalformedEvent, new_event
from services.common.models import DeadLetter
from services.common.settings import Settings
from services.common.topics import DEAD_LETTER

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


Handler = Callable[[Record], Awaitable[None]]


class Backoff:
    """Exponential backoff, capped: 0.2 s, 0.4 s, ... up to `cap` seconds."""

    def __init__(self, cap: float = 30.0) -> None:
        self.cap = cap
        self.delay = 0.2

    def next(self) -> float:
        delay, self.delay = self.delay, min(self.delay * 2, self.cap)
        return delay


async def handle_reliably(
    record: Record,
    handler: Handler,
    publisher: Publisher,
    settings: Settings,
    service: str,
    verifier: EventVerifier,
) -> None:
    """Check the record's signature, then run `handler` until it succeeds or declares the
    record malformed. An unsigned or wrongly signed record never reaches the handler: it is
    dead-lettered like any malformed one. Never raises."""
    backoff = Backoff(settings.retry_max_seconds)
    while True:
        try:
            verifier.verify(record.topic, record.key, record.value, record.headers)
            await handler(record)
            return
        except MalformedEvent as exc:
            await dead_letter(publisher, settings, record, service, str(exc))
            log.warning(
                "%s: %s[%d]@%d naar dead-letter: %s",
                service,
                record.topic,
                record.partition,
                record.offset,
                exc,
            )
            return
        except Exception as exc:  # transient by assumption; logged without its message
            delay = backoff.next()
            log.warning(
                "%s: %s[%d]@%d mislukt (%s); opnieuw over %.1f s",
                service,
                record.topic,
                record.partition,
                record.offset,
                type(exc).__name__,
                delay,
            )
            await asyncio.sleep(delay)


async def dead_letter(
    publisher: Publisher, settings: Settings, record: Record, service: str, reason: str
) -> None:
    """Send the record's position and the reason, never its payload (it may be personal)."""
    data = DeadLetter(
        consumer=service,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key.decode(errors="replace") if record.key else None,
        reason=reason,
        payload_sha256=hashlib.sha256(record.value or b"").hexdigest(),
    )
    event = new_event(
        type=DEAD_LETTERED,
        source=f"kmt/{record.topic}",
        subject=data.key or f"{record.topic}/{record.partition}/{record.offset}",
        data=data,
        id=f"dlq:{service}:{record.topic}:{record.partition}:{record.offset}",
    )
    await publisher.publish(settings.topic(DEAD_LETTER), event)


async def consume_forever(
    settings: Settings,
    *,
    service: str,
    topics: list[str],
    handler: Handler,
    publisher: Publisher,
    started: asyncio.Event | None = None,
) -> None:
    verifier = load_verifier(settings)
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=settings.group(service),
        client_id=f"kmt-{service}",
        **bus_login(settings, service).aiokafka(),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        if started is not None:
            started.set()
        async for message in consumer:
            record = Record(
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                key=message.key,
                value=message.value,
                headers=tuple(message.headers),
            )
            await handle_reliably(record, handler, publisher, settings, service, verifier)
            tp = TopicPartition(message.topic, message.partition)
            try:
                await consumer.commit({tp: message.offset + 1})
            except CommitFailedError:
                # The partition moved to another member during a rebalance; it will get the
                # record again, and the idempotent handler makes that harmless.
                log.info("%s: commit na rebalance geweigerd; record komt opnieuw", service)
    finally:
        await consumer.stop()
