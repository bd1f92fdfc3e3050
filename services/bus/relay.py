"""The relay of a transactional outbox: a service commits a state change together with the
events that announce it, in one transaction of its own store; the relay publishes those
events, oldest first, and forgets each only once the broker acknowledged it.

So no change is ever made without its event, whatever fails: a publish that fails is retried
(with backoff, in order) until it succeeds, also after a crash and restart. An event can go
out twice (published, then a crash before it was forgotten); it keeps its id, and every
consumer dedupes by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

from services.bus.consumer import Backoff
from services.bus.kafka import Publisher
from services.common.events import CloudEvent

log = logging.getLogger(__name__)
BATCH = 100
IDLE_POLL_SECONDS = 1.0
"""A relay also looks without being woken, as a safety net: it is woken on every commit."""


@dataclass(frozen=True)
class Pending:
    """An event committed with its state change, still to be published."""

    position: int
    topic: str
    event: CloudEvent


class PendingEvents(Protocol):
    """The outgoing side of a service's store, as the relay sees it."""

    def pending(self, limit: int) -> list[Pending]:
        """The oldest events still to publish, in commit order."""
        ...

    def delivered(self, *positions: int) -> None:
        """Forget events the broker acknowledged."""
        ...

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call `listener` after each commit that added events (from any thread)."""
        ...


class Relay:
    def __init__(
        self, store: PendingEvents, publisher: Publisher, retry_max_seconds: float
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._retry_max_seconds = retry_max_seconds
        self._wake = asyncio.Event()
        loop = asyncio.get_running_loop()

        def wake() -> None:
            loop.call_soon_threadsafe(self._wake.set)

        store.on_commit(wake)

    async def publish_pending(self) -> int:
        """Publish every pending event, oldest first, a batch at a time: sent together in
        order, their acks awaited together, and forgotten together once every one of them was
        acknowledged. If one fails, the whole batch stays pending and this raises (those of
        it that went out go out again; consumers dedupe by event id). Returns how many went
        out."""
        sent = 0
        while batch := self._store.pending(BATCH):
            await self._publisher.publish_many([(item.topic, item.event) for item in batch])
            self._store.delivered(*(item.position for item in batch))
            sent += len(batch)
        return sent

    async def run_forever(self) -> None:
        backoff = Backoff(self._retry_max_seconds)
        while True:
            self._wake.clear()
            try:
                await self.publish_pending()
            except Exception as exc:  # the broker refused or is gone: the events wait
                delay = backoff.next()
                log.warning(
                    "relay: publiceren mislukt (%s); opnieuw over %.1f s", type(exc).__name__, delay
                )
                await asyncio.sleep(delay)
                continue
            backoff = Backoff(self._retry_max_seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), IDLE_POLL_SECONDS)


@contextlib.asynccontextmanager
async def relaying(
    store: PendingEvents, publisher: Publisher, retry_max_seconds: float
) -> AsyncIterator[Relay]:
    """Run a relay for `store` while the block runs; one per service instance."""
    relay = Relay(store, publisher, retry_max_seconds)
    task = asyncio.create_task(relay.run_forever())
    try:
        yield relay
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
