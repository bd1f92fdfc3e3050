"""Routing: a faust-streaming worker that asks the policy engine about every melding (one
question for all three recipients) and publishes one `sharing.decided` per recipient, the
three sent together and their acks awaited together, with an `alert.raised` when the
policies flag acute danger (`services.routing.alerts`); acute meldingen raise theirs at
once as well, on a lane of their own (`services.routing.fast_lane`).

Acks are manual (`noack`): an event is acked only after all its decisions were published, so
a crash or a stop mid-way redelivers it. Decision event ids derive from the melding event id,
so redelivery republishes the same events and consumers dedupe them.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import faust
from mode import Service

from services.bus.client import MECHANISM, bus_login
from services.bus.consumer import Record, handle_reliably
from services.bus.kafka import Publisher
from services.bus.signing import load_verifier
from services.common.events import (
    MELDING_RECEIVED,
    POLICY_ACTIVATED,
    SHARING_DECIDED,
    CloudEvent,
    derived_id,
    new_event,
    parse_data,
    parse_event,
)
from services.common.facts import MeldingReceived, PolicyFacts
from services.common.models import Decision, SharingDecided
from services.common.policy_events import PolicyActivated
from services.common.settings import Settings
from services.common.topics import ALERTS, DECISIONS, MELDINGEN, POLICY
from services.observability import health, metrics
from services.policy.engine import PolicyEngine, decide_all
from services.policy.switches import Switches, follow
from services.routing import fast_lane
from services.routing.alerts import alert_of
from services.routing.history import PolicyInputs
from services.routing.ordered_acks import OrderedAcks

log = logging.getLogger(__name__)
SOURCE = "kmt/routing"
CONCURRENCY = 4
"""Meldingen handled at once, each waiting for OPA, its acks and its history commits while
the others go on; acked in arrival order (`services.routing.ordered_acks`: faust itself may
commit past a melding still in flight), so a crash redelivers every melding not finished, and
the same melding twice at once publishes the same event ids and keeps one history entry."""


class Router:
    """The handler: melding event in, three decision events out."""

    def __init__(self, settings: Settings, engine: PolicyEngine, publisher: Publisher):
        self.settings = settings
        self.engine = engine
        self.publisher = publisher
        self.announced: set[str] = set()
        self.history = PolicyInputs.of(settings)  # for `kmt policy dry-run`
        self.switches = Switches()
        """The policy version to decide with (`services.policy.switches`)."""

    async def announce_revision(self, revision: str, at: datetime) -> None:
        """Tell the audit trail when a policy revision starts deciding (once per revision:
        the event id derives from it, so restarts and other instances add no entry)."""
        if revision in self.announced:
            return
        event = new_event(
            type=POLICY_ACTIVATED,
            source=SOURCE,
            subject=revision,
            data=PolicyActivated(policy_revision=revision, first_decision_at=at),
            id=derived_id("policy", revision),
        )
        await self.publisher.publish(self.settings.topic(POLICY), event)
        self.announced.add(revision)

    async def decide(self, facts: PolicyFacts) -> list[Decision]:
        """All three decisions, or none; of the activated policy version."""
        return await self.switches.decide(lambda: decide_all(self.engine, facts))

    async def __call__(self, record: Record) -> None:
        event = parse_event(record.value, {MELDING_RECEIVED})
        melding = parse_data(event, MeldingReceived)  # facts only: routing cannot read more
        decisions = await self.decide(melding.facts)
        decided_at = datetime.now(UTC)
        await self.announce_revision(decisions[0].policy_revision, decided_at)
        topic = self.settings.topic(DECISIONS)
        events = [(topic, decided(event.id, melding, d, decided_at)) for d in decisions]
        alert = alert_of(event.id, melding, decisions, decided_at, SOURCE)
        if alert is not None:  # first: on-call hears of acute danger as soon as can be
            events.insert(0, (self.settings.topic(ALERTS), alert))
        await self.publisher.publish_many(events)  # sent together; all acked before the melding
        await asyncio.to_thread(self.history.keep, melding, decisions, decided_at)
        log.info(
            "melding %s: %s",
            melding.melding_id,
            ", ".join(f"{d.recipient}={'ja' if d.allow else 'nee'}" for d in decisions),
        )


def decided(
    event_id: str, melding: MeldingReceived, decision: Decision, at: datetime
) -> CloudEvent:
    """The `sharing.decided` event of one recipient; its id derives from the melding event's,
    so a redelivered melding republishes the same event."""
    return new_event(
        type=SHARING_DECIDED,
        source=SOURCE,
        subject=str(melding.melding_id),
        data=SharingDecided(**decision.model_dump(), melding_id=melding.melding_id, decided_at=at),
        id=derived_id(event_id, decision.recipient),
    )


def create_app(settings: Settings) -> faust.App:
    login = bus_login(settings, "routing")
    app = faust.App(
        settings.group("routing"),
        broker=f"kafka://{settings.kafka_bootstrap.replace(',', ';kafka://')}",
        processing_guarantee="at_least_once",
        broker_session_timeout=10.0,  # aiokafka's default, as the other services have: a
        # killed instance's partitions move after 10 s, not faust's 60 s
        consumer_auto_offset_reset="earliest",
        topic_allow_declare=False,  # topics are created by `kmt topics ensure`
        topic_disable_leader=True,  # no leader-only tasks; avoids an internal topic
        web_enabled=False,
        datadir=str(settings.data_dir / "routing"),  # faust's own state, not the repo root
        value_serializer="raw",
        broker_credentials=faust.SASLCredentials(
            username=login.username,
            password=login.password,
            ssl_context=login.ssl_context,
            mechanism=MECHANISM,
        ),
        key_serializer="raw",
    )
    meldingen = app.topic(settings.topic(MELDINGEN), key_type=bytes, value_type=bytes)
    group = settings.group("routing")

    class Resources(Service):
        """Owns the publisher and the OPA client for the worker's lifetime."""

        router: Router | None = None
        following: asyncio.Task[None] | None = None
        lane: fast_lane.Lane | None = None  # acute alerts, not queued behind the rest
        verifier = load_verifier(settings)
        ready = asyncio.Event()

        async def on_start(self) -> None:
            publisher = Publisher(settings, "routing")
            await publisher.start()
            engine = PolicyEngine(settings.opa_url)
            Resources.router = Router(settings, engine, publisher)
            switches = Resources.router.switches
            following = follow(settings, Resources.verifier, switches)
            Resources.following = asyncio.create_task(following)
            Resources.ready.set()
            Resources.lane = fast_lane.start(settings, Resources.verifier, SOURCE)

        async def on_stop(self) -> None:
            if Resources.lane is not None:
                await asyncio.to_thread(Resources.lane.stop)
            if Resources.following is not None:
                Resources.following.cancel()
            if Resources.router is not None:
                await Resources.router.engine.close()
                await Resources.router.publisher.stop()

    app.service(Resources)

    @app.agent(meldingen)  # one actor: `OrderedAcks` runs CONCURRENCY meldingen at once
    async def route(stream: Any) -> None:
        await Resources.ready.wait()
        router = Resources.router
        assert router is not None
        unacked = stream.noack()

        async def ack(event: Any) -> None:
            await unacked.ack(event)
            message = event.message
            highwater = app.consumer.highwater(message.tp)
            metrics.set_lag(group, message.topic, message.partition, highwater, message.offset + 1)

        acks: OrderedAcks[Any] = OrderedAcks(ack, CONCURRENCY)
        try:
            async for event in unacked.events():
                handling = handle_reliably(
                    _record(event.message),
                    router,
                    router.publisher,
                    settings,
                    "routing",
                    Resources.verifier,
                )
                await acks.submit(event, handling)
        finally:
            await acks.close()

    return app


def _record(message: Any) -> Record:
    """A faust message as the bus's `Record`."""
    return Record(
        message.topic,
        message.partition,
        message.offset,
        message.key,
        message.value,
        tuple((name, bytes(raw)) for name, raw in _headers(message.headers)),
    )


def _headers(headers: Any) -> list[tuple[str, bytes]]:
    """faust hands record headers over as a list of pairs or as a mapping."""
    if headers is None:
        return []
    return list(headers.items()) if isinstance(headers, dict) else list(headers)


def run(settings: Settings) -> None:
    health.serve_side_port(
        settings,
        "routing",
        settings.routing_port,
        {"broker": health.broker(settings), "opa": health.opa(settings)},
    )
    app = create_app(settings)
    worker = faust.Worker(app, loglevel="WARNING", quiet=True)
    worker.execute_from_commandline()
