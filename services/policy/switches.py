"""Activation over the bus: every switch of the active policy version (an approved
activation, a rollback) is announced as a signed `policy.switched` event on its own topic,
and every routing instance follows that topic and decides only with the announced version.

The topic has one partition (one order for all) and one writer: the `policy` principal (the
broker's ACLs) and the `policy` event key (`services.bus.signing.OWNERS`), held by the
lifecycle (`kmt policy activate|rollback`, the operator API) and nothing else. Routing reads
it without a consumer group, every instance all of it from the beginning, so an instance
started later knows the active version before its first decision (`Switches.caught_up`).

A routing instance that has seen a switch records no decision of another revision
(`Switches.decide`): until its OPA has fetched the new bundle (OPA polls the bundle server,
which serves the store's active version) it asks again, and past `WAIT_SECONDS` it treats
OPA as down (`Outage`): the melding is not acked and comes back. A record that is not a
valid event signed by `policy` (another service's key, a forged signature, a principal
that was granted the topic) changes nothing and is logged by offset.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from services.bus.client import bus_login
from services.bus.consumer import restarting
from services.bus.kafka import Publisher
from services.bus.principals import LIFECYCLE
from services.bus.signing import EventVerifier
from services.common.events import (
    POLICY_SWITCHED,
    MalformedEvent,
    Outage,
    new_event,
    parse_data,
    parse_event,
)
from services.common.models import Decision
from services.common.policy_events import PolicySwitched
from services.common.settings import Settings
from services.common.topics import POLICY_SWITCHES

log = logging.getLogger(__name__)

SOURCE = "kmt/policy"
WAIT_SECONDS = 30.0
ASK_EVERY = 0.2


async def announce(settings: Settings, switched: PolicySwitched) -> None:
    """Publish `switched`, signed with the lifecycle's event key, durable when this returns;
    its id is its ledger entry's, so announcing a step twice is one event."""
    publisher = Publisher(settings, LIFECYCLE)
    await publisher.start()
    try:
        event = new_event(
            type=POLICY_SWITCHED,
            source=SOURCE,
            subject=switched.policy_revision,
            data=switched,
            id=f"policy-switch:{switched.ledger_seq}",
        )
        await publisher.publish(settings.topic(POLICY_SWITCHES), event)
    finally:
        await publisher.stop()


def switched(revision: str, bundle_sha256: str, step: str, seq: int) -> PolicySwitched:
    return PolicySwitched.model_validate(
        {
            "policy_revision": revision,
            "bundle_sha256": bundle_sha256,
            "step": step,
            "ledger_seq": seq,
            "switched_at": datetime.now(UTC),
        }
    )


class Switches:
    """What one routing instance knows of the switches: the version it must decide with."""

    def __init__(self) -> None:
        self.required: str | None = None
        self.caught_up = asyncio.Event()
        """Set once every switch on the topic when the instance started has been read."""

    def take(
        self, verifier: EventVerifier, topic: str, record: ConsumerRecord[bytes, bytes]
    ) -> None:
        """Follow one record of the topic, if it is a switch signed by the lifecycle."""
        try:
            verifier.verify(topic, record.key, record.value, record.headers or ())
            event = parse_event(record.value, {POLICY_SWITCHED})
            self.required = parse_data(event, PolicySwitched).policy_revision
        except MalformedEvent as exc:
            log.warning("beleidswissel geweigerd (offset %s): %s", record.offset, exc)

    async def decide(self, ask: Callable[[], Awaitable[list[Decision]]]) -> list[Decision]:
        """The decisions `ask` gives once they carry the required revision (any, before the
        first switch); `Outage` if OPA does not have it within `WAIT_SECONDS`."""
        await self.caught_up.wait()
        deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
        while True:
            decisions = await ask()
            required = self.required
            if required is None or decisions[0].policy_revision == required:
                return decisions
            if asyncio.get_running_loop().time() > deadline:
                raise Outage(
                    f"OPA beslist met {decisions[0].policy_revision}, niet met de"
                    f" geactiveerde beleidsversie {required}"
                )
            await asyncio.sleep(ASK_EVERY)


async def follow(settings: Settings, verifier: EventVerifier, switches: Switches) -> None:
    """Read the switches topic from its beginning, for good (as `routing`, no group); when
    the broker goes away, start again after a pause (from the beginning: the last switch
    read is the one that holds)."""
    await restarting("beleidswissels: lezen", lambda: _follow(settings, verifier, switches))


async def _follow(settings: Settings, verifier: EventVerifier, switches: Switches) -> None:
    topic = settings.topic(POLICY_SWITCHES)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="kmt-routing-switches",
        group_id=None,
        enable_auto_commit=False,
        **bus_login(settings, "routing").aiokafka(),
    )
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        end = (await consumer.end_offsets([partition]))[partition]
        if end == 0:
            switches.caught_up.set()
        async for record in consumer:
            switches.take(verifier, topic, record)
            if record.offset + 1 >= end:
                switches.caught_up.set()
    finally:
        await consumer.stop()
