"""Meldingen handled a few at a time, acked strictly in the order they arrived.

faust commits a partition's offset from the offsets its streams acked, and it may commit
past a message still being handled when a later one was acked first (faust-streaming issue
#606: with `committed` = 5 and offsets 6 and 7 acked, it commits 8 while 5 is in flight). A
routing instance killed then never decides melding 5, and the instance that takes over
starts after it. So routing runs one actor, starts up to `limit` meldingen at once, and acks
each only when it and every melding before it are done: the acks faust sees are always a
run from the committed offset, and a crash redelivers everything not finished.

A melding whose handling raises (the bus could not even take its dead letter) is never
acked, nor is any melding after it: the error ends the actor at its next melding, and the
partition's offset stays before the failed one until the worker restarts.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

Event = TypeVar("Event")


class OrderedAcks(Generic[Event]):
    """Start handlings (`submit`) with at most `limit` running; ack them (`ack`) in the order
    they were submitted."""

    def __init__(self, ack: Callable[[Event], Awaitable[Any]], limit: int) -> None:
        self._ack = ack
        self._slots = asyncio.Semaphore(limit)
        self._pending: deque[tuple[Event, asyncio.Task[None]]] = deque()
        self._ready = asyncio.Event()
        self._failed: BaseException | None = None
        self._acker: asyncio.Task[None] | None = None

    async def submit(self, event: Event, handling: Coroutine[Any, Any, None]) -> None:
        """Start `handling` once a slot is free; raise the error of an earlier one that
        failed (nothing from it on is acked)."""
        if self._failed is not None:
            handling.close()
            raise self._failed
        if self._acker is None:
            self._acker = asyncio.create_task(self._ack_in_order())
        try:
            await self._slots.acquire()
        except BaseException:  # cancelled while waiting: it never started
            handling.close()
            raise
        task = asyncio.create_task(handling)
        task.add_done_callback(lambda _: self._slots.release())
        self._pending.append((event, task))
        self._ready.set()

    async def _ack_in_order(self) -> None:
        while True:
            if not self._pending:
                self._ready.clear()
                await self._ready.wait()
                continue
            event, task = self._pending[0]
            try:
                await task
            except BaseException as exc:
                self._failed = exc
                return
            self._pending.popleft()
            await self._ack(event)

    async def close(self) -> None:
        """Stop acking; handlings still running are cancelled and stay unacked."""
        for _, task in self._pending:
            task.cancel()
        if self._acker is not None:
            self._acker.cancel()
