"""Plain aiokafka on the pipeline's own broker: what the bus alone can carry.

The same security as the services (SASL_SSL, SCRAM-SHA-512, the deployment's TLS CA; see
`services.bus.client`), the same producer settings (`make_producer`: acks=all, idempotent),
records the size of a real `MeldingReceived` event (value, and headers as signed) read back
from the deployment's meldingen topic. It runs as the admin principal, on a topic of its
own that it creates with the meldingen topic's partition count and deletes afterwards.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.bus.client import bus_login
from services.bus.kafka import make_producer
from services.bus.principals import ADMIN
from services.common.settings import Settings
from services.common.topics import MELDINGEN, TOPICS

PARTITIONS = next(t.partitions for t in TOPICS if t.name == MELDINGEN)


@dataclass(frozen=True)
class RecordSize:
    value: int
    headers: int
    sampled: int


@dataclass(frozen=True)
class RawResult:
    records: int
    value_bytes: int
    header_bytes: int
    produce_consume_per_s: float
    """Produced with every send in flight, consumed at the same time: records/s from the
    first send until the consumer had the last one."""
    produce_per_s: float
    """The same sends: records/s until the producer had every ack."""
    awaited_records: int
    awaited_per_s: float
    """One `send_and_wait` after the other, as the services publish today."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _consumer(settings: Settings) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        **bus_login(settings, ADMIN).aiokafka(),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )


async def melding_record_size(settings: Settings, sample: int = 50) -> RecordSize:
    """Mean sizes of the last `sample` records on the deployment's meldingen topic."""
    topic = settings.topic(MELDINGEN)
    consumer = _consumer(settings)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, max(0, ends[tp] - sample // PARTITIONS - 1))
        values: list[int] = []
        headers: list[int] = []
        deadline = time.monotonic() + 10
        while len(values) < min(sample, sum(ends.values())) and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    values.append(len(record.value or b""))
                    headers.append(sum(len(k) + len(v) for k, v in record.headers))
    finally:
        await consumer.stop()
    if not values:
        raise RuntimeError(f"geen meldingen op {topic} om de recordgrootte aan te meten")
    return RecordSize(sum(values) // len(values), sum(headers) // len(headers), len(values))


async def raw_kafka(settings: Settings, records: int, size: RecordSize) -> RawResult:
    topic = settings.topic(f"bench.raw.{uuid.uuid4().hex[:8]}")
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, **bus_login(settings, ADMIN).aiokafka()
    )
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
        try:
            return await _measure(settings, topic, records, size)
        finally:
            await admin.delete_topics([topic])
    finally:
        await admin.close()


async def _measure(settings: Settings, topic: str, count: int, size: RecordSize) -> RawResult:
    value = os.urandom(size.value)
    headers = [("sig", os.urandom(max(0, size.headers - 3)))] if size.headers else []
    keys = [str(uuid.uuid4()).encode() for _ in range(count)]
    producer = make_producer(settings, ADMIN)
    consumer = _consumer(settings)
    await producer.start()
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        # warm up: connections, metadata, producer id
        await producer.send_and_wait(topic, value, key=b"warm-up", headers=headers)
        await _consume(consumer, 1)

        start = time.perf_counter()
        consuming = asyncio.create_task(_consume(consumer, count))
        sent = [await producer.send(topic, value, key=k, headers=headers) for k in keys]
        await asyncio.gather(*sent)
        produced = time.perf_counter() - start
        await consuming
        both = time.perf_counter() - start

        awaited = max(1, count // 5)
        start = time.perf_counter()
        for key in keys[:awaited]:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
        one_by_one = time.perf_counter() - start
    finally:
        await producer.stop()
        await consumer.stop()
    return RawResult(
        records=count,
        value_bytes=size.value,
        header_bytes=size.headers,
        produce_consume_per_s=count / both,
        produce_per_s=count / produced,
        awaited_records=awaited,
        awaited_per_s=awaited / one_by_one,
    )


async def _consume(consumer: AIOKafkaConsumer, count: int, timeout: float = 120.0) -> None:
    got = 0
    deadline = time.monotonic() + timeout
    while got < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"slechts {got} van {count} records gelezen")
        batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
        got += sum(len(records) for records in batch.values())
