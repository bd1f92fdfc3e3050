"""At-least-once consumption with idempotent handlers.

Records are fetched in batches (up to `BATCH_MAX`); each record's signature is checked
(`services.bus.signing`) before a handler sees it, and the offsets of a batch are committed
once, after every record of it was handled (or dead-lettered). Handlers must be idempotent
by event id. A consumer may also give a batch handler (`Handling.batch`): it gets the
verified records of a partition's batch in one call and must do all or nothing (audit: one
ledger transaction); if it raises anything, each record goes the one-record way below, so
the failure rules are the same whichever way a record is handled. A failure is one of three
kinds:

- `MalformedEvent`: the record is bad. Its position and the reason go to the dead-letter
  topic at once and the stream goes on.
- an outage (`is_outage`: `Outage`, an OS-level connection error, the broker or a database
  unreachable): every record would fail alike, so the same record is retried with backoff
  for as long as it lasts, its offset not committed (fail closed).
- anything else (a policy answer that breaks the contract, a value nothing can read): the
  record is retried with backoff for `retry_give_up_seconds`, then set aside as a dead letter
  naming the error type, so one poison record cannot block its partition forever.

While a record is retried it is counted (`kmt_records_retrying`, `kmt_record_retry_seconds`),
and one retried for longer than `ready_retry_seconds` makes the service not ready
(`services.observability.health`). Each record is handled in a span that continues the trace
of its `traceparent` header (`services.observability.tracing`).

Every dead letter raises an operator alarm: an ERROR log line starting `ALARM dead-letter`
with the consumer, the record's position and the reason (ids and paths only, never values),
beside the dead-letter event itself (`kmt.deadletter.v1`).

Partitions are assigned by range, not round robin: the topics keyed by melding id have the
same number of partitions (`services.common.topics`), so one instance gets a melding and its
decisions. With round robin, sharing's melding could go to one instance and its decision
to another, each handling it in a batch transaction that did not yet see the other's;
neither then processed the decision, and the disclosure was never made.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, KafkaError, KafkaTimeoutError
from opentelemetry.trace import SpanKind

from services.bus.client import bus_login
from services.bus.kafka import Publisher
from services.bus.signing import EventVerifier, load_verifier
from services.common.events import DEAD_LETTERED, MalformedEvent, Outage, new_event
from services.common.models import DeadLetter
from services.common.settings import Settings
from services.common.topics import DEAD_LETTER
from services.observability import metrics, tracing
from services.observability.health import RETRYING

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
BatchHandler = Callable[[Sequence[Record]], Awaitable[None]]
BATCH_MAX = 500
"""Records fetched at most per batch: enough to spread a commit and a ledger transaction over
many records, few enough that a batch is handled in a second or so."""


@dataclass(frozen=True)
class Handling:
    """How a consumer handles records: `one` at a time (always possible), and optionally a
    whole `batch` at once, all or nothing and idempotent, tried first."""

    one: Handler
    batch: BatchHandler | None = None


class Backoff:
    """Exponential backoff, capped: 0.2 s, 0.4 s, ... up to `cap` seconds."""

    def __init__(self, cap: float = 30.0) -> None:
        self.cap = cap
        self.delay = 0.2

    def next(self) -> float:
        delay, self.delay = self.delay, min(self.delay * 2, self.cap)
        return delay


async def restarting(what: str, run: Callable[[], Awaitable[None]], cap: float = 10.0) -> None:
    """Run `run` for good: when it fails (the broker or OPA gone), log `what` stopped, by
    the error's type only, and start it again after a pause that grows up to `cap` s."""
    backoff = Backoff(cap)
    while True:
        try:
            await run()
        except Exception as exc:
            delay = backoff.next()
            log.warning("%s gestopt (%s); opnieuw over %.1f s", what, type(exc).__name__, delay)
            await asyncio.sleep(delay)


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` says a dependency is down rather than that this record is at fault: an
    `Outage`, an OS-level error (connection refused, timeout), a Kafka error the client
    deems retriable or a timeout, or a DB-API `OperationalError` (sqlite3, psycopg: the
    database unreachable or busy)."""
    if isinstance(exc, Outage | OSError | KafkaTimeoutError):
        return True
    if isinstance(exc, KafkaError):
        return bool(exc.retriable)
    return any(cls.__name__ == "OperationalError" for cls in type(exc).__mro__)


@contextmanager
def _consuming(record: Record, service: str) -> Iterator[None]:
    """The record's consumer span, with its retry gauge cleared however handling ends."""
    with tracing.step(
        f"{service} {record.topic}",
        tracing.header_traceparent(record.headers),
        SpanKind.CONSUMER,
        {"messaging.destination.name": record.topic, "messaging.kafka.offset": record.offset},
    ):
        try:
            yield
        finally:
            RETRYING.done(service, record.topic, record.partition, record.offset)


async def handle_reliably(
    record: Record,
    handler: Handler,
    publisher: Publisher,
    settings: Settings,
    service: str,
    verifier: EventVerifier,
) -> None:
    """Check the record's signature, then run `handler` until it succeeds, declares the
    record malformed, or fails for `retry_give_up_seconds` for a reason other than an
    outage; the latter two are dead-lettered with an alarm. An unsigned or wrongly signed
    record never reaches the handler: it is dead-lettered like any malformed one. Raises
    only when the dead letter itself cannot be published (the record then comes again)."""
    with _consuming(record, service):
        backoff = Backoff(settings.retry_max_seconds)
        attempts = 0
        failing_since: float | None = None  # first failure not explained by an outage
        while True:
            attempts += 1
            try:
                verifier.verify(record.topic, record.key, record.value, record.headers)
                await handler(record)
                return
            except MalformedEvent as exc:
                await dead_letter(publisher, settings, record, service, str(exc))
                return
            except Exception as exc:  # logged by type only: a message may quote personal data
                outage = is_outage(exc)
                now = time.monotonic()
                failing_since = None if outage else (failing_since or now)
                if (
                    failing_since is not None
                    and now - failing_since >= settings.retry_give_up_seconds
                ):
                    reason = (
                        f"opgegeven na {attempts} pogingen in {now - failing_since:.0f} s: "
                        f"{type(exc).__name__}"
                    )
                    await dead_letter(publisher, settings, record, service, reason)
                    return
                delay = backoff.next()
                RETRYING.failing(service, record.topic, record.partition, record.offset)
                log.warning(
                    "%s: %s[%d]@%d mislukt (%s%s); opnieuw over %.1f s",
                    service,
                    record.topic,
                    record.partition,
                    record.offset,
                    type(exc).__name__,
                    ", storing" if outage else "",
                    delay,
                )
                await asyncio.sleep(delay)


async def dead_letter(
    publisher: Publisher, settings: Settings, record: Record, service: str, reason: str
) -> None:
    """Send the record's position and the reason, never its payload (it may be personal),
    and raise the operator alarm."""
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
    metrics.DEAD_LETTERS.labels(service, record.topic).inc()
    log.error(
        "ALARM dead-letter consumer=%s topic=%s partition=%d offset=%d key=%s: %s",
        service,
        record.topic,
        record.partition,
        record.offset,
        data.key,
        reason,
    )


async def handle_batch(
    records: Sequence[Record],
    handling: Handling,
    publisher: Publisher,
    settings: Settings,
    service: str,
    verifier: EventVerifier,
) -> None:
    """Handle one partition's batch, in order. With a batch handler: the forged records are
    dead-lettered, the rest go to it in one call; should it raise, each of them is handled on
    its own by `handle_reliably` (its all-or-nothing promise makes that safe). Without one,
    every record goes through `handle_reliably`."""
    if handling.batch is not None and len(records) > 1:
        verified = []
        for record in records:
            try:
                verifier.verify(record.topic, record.key, record.value, record.headers)
            except MalformedEvent as exc:
                await dead_letter(publisher, settings, record, service, str(exc))
                continue
            verified.append(record)
        try:
            if verified:
                with tracing.batch_spans(service, verified):
                    await handling.batch(verified)
            return
        except Exception as exc:  # by type only, as in handle_reliably
            log.info(
                "%s: batch van %d record(s) niet in één keer verwerkt (%s); per record verder",
                service,
                len(verified),
                type(exc).__name__,
            )
        records = verified
    for record in records:
        await handle_reliably(record, handling.one, publisher, settings, service, verifier)


def group_consumer(settings: Settings, service: str, topics: list[str]) -> AIOKafkaConsumer:
    """`service`'s member of its consumer group: manual commits, committed records only,
    partitions by range (see above)."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=settings.group(service),
        client_id=f"kmt-{service}",
        **bus_login(settings, service).aiokafka(),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        partition_assignment_strategy=(RangePartitionAssignor,),
    )


async def consume_forever(
    settings: Settings,
    *,
    service: str,
    topics: list[str],
    handler: Handler | Handling,
    publisher: Publisher,
    started: asyncio.Event | None = None,
) -> None:
    handling = handler if isinstance(handler, Handling) else Handling(handler)
    verifier = load_verifier(settings)
    consumer_group = settings.group(service)
    consumer = group_consumer(settings, service, topics)
    await consumer.start()
    try:
        if started is not None:
            started.set()
        while True:
            fetched = await consumer.getmany(timeout_ms=1000, max_records=BATCH_MAX)
            handled: dict[TopicPartition, int] = {}
            for tp, messages in fetched.items():
                records = [
                    Record(m.topic, m.partition, m.offset, m.key, m.value, tuple(m.headers))
                    for m in messages
                ]
                await handle_batch(records, handling, publisher, settings, service, verifier)
                handled[tp] = messages[-1].offset + 1
                highwater = consumer.highwater(tp)
                metrics.set_lag(consumer_group, tp.topic, tp.partition, highwater, handled[tp])
            if not handled:
                continue
            try:
                await consumer.commit(handled)
            except CommitFailedError:
                # A partition moved to another member during a rebalance; it will get the
                # records again, and the idempotent handlers make that harmless.
                log.info("%s: commit na rebalance geweigerd; records komen opnieuw", service)
    finally:
        await consumer.stop()
