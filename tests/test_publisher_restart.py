"""When the broker rejects a producer's idempotence state, the publisher replaces that
producer once, however many callers (a consumer and a relay) saw the rejection together.

The producer is a stand-in: this isolates the publisher's own restart logic (the real
broker's behaviour after a restart is covered by the integration tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiokafka.errors import UnknownProducerId

from services.bus import kafka
from services.common.events import new_event
from services.common.models import DeadLetter
from services.common.settings import Settings
from services.keyring import generate_all


class RejectedProducer:
    """Every send fails as after a broker restart; counts starts and stops."""

    started: ClassVar[list[RejectedProducer]] = []

    def __init__(self) -> None:
        self.stopped = False

    async def start(self) -> None:
        RejectedProducer.started.append(self)

    async def stop(self) -> None:
        self.stopped = True

    async def send(self, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        await asyncio.sleep(0.01)  # the callers' sends overlap
        failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        failed.set_exception(UnknownProducerId())
        return failed


async def test_callers_who_see_a_stale_producer_together_replace_it_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(keys_dir=tmp_path / "keys")
    generate_all(settings.keys_dir)
    monkeypatch.setattr(kafka, "make_producer", lambda *_: RejectedProducer())
    RejectedProducer.started.clear()
    publisher = kafka.Publisher(settings, "sharing")
    await publisher.start()
    event = new_event(
        type="nl.kmt.deadletter",
        source="kmt/test",
        subject="x",
        data=DeadLetter(
            consumer="c", topic="t", partition=0, offset=0, key=None, reason="r",
            payload_sha256="0" * 64,
        ),
    )  # fmt: skip

    outcomes = await asyncio.gather(
        *(publisher.publish("t", event) for _ in range(5)), return_exceptions=True
    )

    assert all(isinstance(o, UnknownProducerId) for o in outcomes)  # each caller retries
    first, *others = RejectedProducer.started
    assert len(others) == 1, "one new producer, not one per caller"
    assert first.stopped and not others[0].stopped  # nothing leaked, the new one serves
    await publisher.stop()
