"""Routing acks meldingen in arrival order, however their handling interleaves: faust may
commit past a melding still in flight when a later one is acked first (faust-streaming
#606), and a routing instance killed then would never decide it."""

from __future__ import annotations

import asyncio

import pytest

from services.routing.ordered_acks import OrderedAcks


def test_a_later_melding_done_first_is_acked_only_after_the_earlier_one() -> None:
    async def scenario() -> tuple[list[int], list[str]]:
        acked: list[int] = []
        log: list[str] = []
        gates = {n: asyncio.Event() for n in range(3)}

        async def ack(n: int) -> None:
            acked.append(n)

        async def handle(n: int) -> None:
            await gates[n].wait()
            log.append(f"klaar {n}")

        acks: OrderedAcks[int] = OrderedAcks(ack, limit=3)
        for n in range(3):
            await acks.submit(n, handle(n))
        gates[2].set()
        gates[1].set()
        await asyncio.sleep(0.05)
        assert acked == []  # 1 and 2 are done, 0 is still in flight: nothing may be acked
        gates[0].set()
        await asyncio.sleep(0.05)
        await acks.close()
        return acked, log

    acked, log = asyncio.run(scenario())
    assert log[-1] == "klaar 0"  # finished last, acked first
    assert acked == [0, 1, 2]


def test_no_more_than_the_limit_run_at_once() -> None:
    async def scenario() -> int:
        running = peak = 0

        async def handle() -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1

        async def ack(_: int) -> None:
            return None

        acks: OrderedAcks[int] = OrderedAcks(ack, limit=4)
        for n in range(20):
            await acks.submit(n, handle())
        await asyncio.sleep(0.1)
        await acks.close()
        return peak

    assert asyncio.run(scenario()) == 4


def test_after_a_failed_melding_nothing_is_acked_and_the_next_submit_raises() -> None:
    async def scenario() -> list[int]:
        acked: list[int] = []

        async def ack(n: int) -> None:
            acked.append(n)

        async def fine() -> None:
            return None

        async def broken() -> None:
            raise ConnectionError("bus weg")

        acks: OrderedAcks[int] = OrderedAcks(ack, limit=4)
        await acks.submit(0, fine())
        await acks.submit(1, broken())
        await acks.submit(2, fine())
        await asyncio.sleep(0.05)
        with pytest.raises(ConnectionError):
            await acks.submit(3, fine())
        await acks.close()
        return acked

    assert asyncio.run(scenario()) == [0]
