"""Routing's fast lane for acute danger, on a thread and an event loop of its own.

Acute meldingen raise their alert as soon as they arrive, instead of queueing behind the
others (`services.routing.alerts.raise_at_once`). The lane was a second faust agent on the
meldingen topic, sharing routing's event loop with the ordinary path; in a burst it waited
behind that path's callbacks (about a third of the POST → alert time in `bench/
alert_latency.py`). It now has its own thread, loop, consumer, policy client, publisher
and view of the policy switches; Python's GIL still shares the CPU between the two.

It reads the topic as routing, without a consumer group (no group, no offsets: the topic's
read grant is all it needs), every partition from the end at its start. A melding that came
while it was not reading gets its alert from the ordinary path, which raises one for every
acute melding it decides, under the same event id: one alert either way.
"""

from __future__ import annotations

import asyncio
import threading

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.bus.client import bus_login
from services.bus.consumer import Record, restarting
from services.bus.kafka import Publisher
from services.bus.signing import EventVerifier
from services.common.facts import PolicyFacts
from services.common.models import Decision
from services.common.settings import Settings
from services.common.topics import MELDINGEN, TOPICS
from services.policy.engine import PolicyEngine, decide_all
from services.policy.switches import Switches, follow
from services.routing.alerts import raise_at_once

SERVICE = "routing"


class Lane:
    """The running lane: a daemon thread (it ends with routing's process at the latest)."""

    def __init__(self, settings: Settings, verifier: EventVerifier, source: str) -> None:
        self._loop = asyncio.new_event_loop()
        lane = restarting("routing: snelle baan", lambda: _lane(settings, verifier, source))
        self._task = self._loop.create_task(lane)
        self._thread = threading.Thread(target=self._serve, name="kmt-routing-fast-lane")
        self._thread.daemon = True
        self._thread.start()

    def _serve(self) -> None:
        try:
            self._loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        finally:
            self._loop.close()

    def stop(self) -> None:
        """Stop reading, close the consumer and the publisher, and wait for the thread."""
        self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(timeout=10)


def start(settings: Settings, verifier: EventVerifier, source: str) -> Lane:
    return Lane(settings, verifier, source)


async def _lane(settings: Settings, verifier: EventVerifier, source: str) -> None:
    publisher = Publisher(settings, SERVICE)
    engine = PolicyEngine(settings.opa_url)
    switches = Switches()
    following = asyncio.create_task(follow(settings, verifier, switches))
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="kmt-routing-fast-lane",
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        **bus_login(settings, SERVICE).aiokafka(),
    )

    async def decide(facts: PolicyFacts) -> list[Decision]:
        return await switches.decide(lambda: decide_all(engine, facts))

    await publisher.start()
    try:
        await consumer.start()
        topic = settings.topic(MELDINGEN)
        count = next(spec.partitions for spec in TOPICS if spec.name == MELDINGEN)
        partitions = [TopicPartition(topic, p) for p in range(count)]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        async for m in consumer:
            record = Record(m.topic, m.partition, m.offset, m.key, m.value, tuple(m.headers))
            await raise_at_once(record, verifier, decide, publisher, settings.topic_prefix, source)
    finally:
        following.cancel()
        await consumer.stop()
        await engine.close()
        await publisher.stop()
