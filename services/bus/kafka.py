"""Kafka plumbing shared by the services: the idempotent producer, and topic and ACL creation.

Every client logs in as a principal (`services.bus`): a service as itself, `kmt topics
ensure` as the admin."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    InvalidProducerEpoch,
    KafkaConnectionError,
    OutOfOrderSequenceNumber,
    TopicAlreadyExistsError,
    UnknownProducerId,
)

from services.bus.acls import create_acls, service_grants
from services.bus.client import bus_login
from services.bus.principals import ADMIN
from services.bus.signing import load_signer
from services.common.events import CloudEvent
from services.common.settings import Settings
from services.common.topics import TOPICS


def make_producer(settings: Settings, principal: str) -> AIOKafkaProducer:
    """Idempotent producer, acks from all in-sync replicas: a send returns only once durable."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=f"kmt-{principal}",
        **bus_login(settings, principal).aiokafka(),
        enable_idempotence=True,
        acks="all",
        request_timeout_ms=10_000,
    )


# The broker no longer accepts this producer's idempotence state (seen after a broker
# restart); aiokafka then fails every later send of that producer for good.
STALE_PRODUCER_STATE = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch)


class Publisher:
    """A service's producer of events, keyed by melding id, durable once `publish` returns,
    each signed with the service's own event key (`services.bus.signing`).

    When the broker rejects the producer's sequence state, the publisher starts a fresh
    producer (a new producer id) and re-raises: the caller's retry then goes out on it.
    """

    def __init__(self, settings: Settings, principal: str) -> None:
        self._settings = settings
        self._principal = principal
        self._signer = load_signer(settings, principal)
        self._producer: AIOKafkaProducer | None = None
        self._restarting = asyncio.Lock()

    async def start(self) -> None:
        producer = make_producer(self._settings, self._principal)
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def publish(self, topic: str, event: CloudEvent) -> None:
        await self.publish_many([(topic, event)])

    async def publish_many(self, events: Sequence[tuple[str, CloudEvent]]) -> None:
        """Send every event, then wait for all their acks together: durable, every one, once
        this returns; if any send fails it raises (after all have settled), and the caller's
        retry sends them all again, which consumers dedupe by event id. Per partition the
        idempotent producer keeps them in the order given."""
        producer = self._producer
        if producer is None:
            raise KafkaConnectionError("publisher niet gestart")
        acks: list[asyncio.Future[Any]] = []
        try:
            try:
                for topic, event in events:
                    value = event.to_bytes()
                    headers = self._signer.headers(topic, event.key, value, event.traceparent)
                    ack = await producer.send(topic, value, key=event.key, headers=headers)
                    acks.append(ack)
            finally:  # every send under way settles, also when a later one could not start
                settled = await asyncio.gather(*acks, return_exceptions=True)
            failed = [outcome for outcome in settled if isinstance(outcome, BaseException)]
            if failed:
                raise failed[0]
        except STALE_PRODUCER_STATE:
            # Callers sharing this publisher (a consumer and a relay) may all see it at once:
            # only the first replaces the producer they used, so none is started twice.
            async with self._restarting:
                if self._producer is producer:
                    await self.stop()
                    await self.start()
            raise


async def ensure_topics(
    settings: Settings, replication_factor: int = 1, wait_seconds: float = 0
) -> list[str]:
    """Create the missing topics and every service's ACLs, as the admin principal; returns
    the topic names it created. Safe to run again.

    `wait_seconds` allows for a broker that is still starting (as in docker compose)."""
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while True:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap, **bus_login(settings, ADMIN).aiokafka()
        )
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            await admin.close()
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(1)
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name=settings.topic(spec.name),
                num_partitions=spec.partitions,
                replication_factor=replication_factor,
                topic_configs={"retention.ms": str(spec.retention_ms)},
            )
            for spec in TOPICS
            if settings.topic(spec.name) not in existing
        ]
        if wanted:
            response = await admin.create_topics(wanted)
            for name, code, *_ in response.topic_errors:
                # 36: created concurrently by another instance, which is what we wanted
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise RuntimeError(f"topic {name} niet aangemaakt (Kafka-foutcode {code})")
        await create_acls(admin, service_grants(settings))
        return [t.name for t in wanted]
    finally:
        await admin.close()
