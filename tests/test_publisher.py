"""The publisher recovers from a producer the broker no longer accepts (seen after a broker
restart: every later send of that producer failed with OutOfOrderSequenceNumber)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka.errors import OutOfOrderSequenceNumber

from services.bus.kafka import Publisher, ensure_topics
from services.common.events import new_event
from services.common.models import Reason
from services.common.settings import Settings
from services.common.topics import DECISIONS
from services.keyring import generate_all
from tests.stack import read_events


def test_a_stale_producer_is_replaced_and_the_retry_goes_out(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory()
    generate_all(settings.keys_dir)
    event = new_event(
        type="nl.kmt.test", source="test", subject="m", data=Reason(rule="r", text="t")
    )

    async def scenario() -> None:
        await ensure_topics(settings)
        publisher = Publisher(settings, "routing")  # routing may write decisions
        await publisher.start()
        stale = publisher._producer
        assert stale is not None

        async def refused(*_: Any, **__: Any) -> asyncio.Future[Any]:
            ack = asyncio.get_running_loop().create_future()
            ack.set_exception(OutOfOrderSequenceNumber())  # the broker's verdict, in the ack
            return ack

        stale.send = refused  # type: ignore[method-assign]
        try:
            with pytest.raises(OutOfOrderSequenceNumber):
                await publisher.publish(settings.topic(DECISIONS), event)
            assert publisher._producer is not stale  # a fresh producer id for the retry
            await publisher.publish(settings.topic(DECISIONS), event)
        finally:
            await publisher.stop()

    asyncio.run(scenario())
    assert [e["id"] for e in read_events(settings, DECISIONS)] == [event.id]
