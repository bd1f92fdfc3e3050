"""The load generator: meldingen to intake's real API as the demo reporter, with a partner
token from the reference client (`private_key_jwt`), refreshed long before it expires.

Two shapes of load:
- a burst: N meldingen by C concurrent posters, each posting its next one once the last
  was answered (the latency clock starts when a poster sends);
- a fixed offered rate: one melding every 1/R s for D s, each sent on its own schedule
  whatever became of the others (open loop; the clock starts at the scheduled moment, so a
  generator that falls behind shows up in the latencies instead of hiding).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
import uuid
from collections.abc import Iterable
from typing import Any

import httpx

from bench.e2e_follow import Follower, Track
from services.partner_client.client import PartnerClient

TOKEN_REFRESH_S = 60.0
"""Ask the reference client for the token this often; it hands out its cached one until
shortly before expiry (tokens live 5 minutes), then fetches a fresh one."""


class Tokens:
    def __init__(self, client: PartnerClient, intake_url: str) -> None:
        self._client = client
        self._url = intake_url
        self._token = ""
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        if time.monotonic() >= self._next:
            async with self._lock:
                if time.monotonic() >= self._next:
                    self._token = await asyncio.to_thread(self._client.token, self._url)
                    self._next = time.monotonic() + TOKEN_REFRESH_S
        return self._token


class Poster:
    """Posts to the intakes at `intake_urls` in turn (round robin), one melding each."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        intake_urls: tuple[str, ...],
        tokens: Tokens,
        follower: Follower,
    ) -> None:
        self._http = http
        self._urls = itertools.cycle([url.rstrip("/") + "/v1/meldingen" for url in intake_urls])
        self._tokens = tokens
        self._follower = follower

    async def post(self, melding: dict[str, Any], track: Track) -> None:
        token = await self._tokens.get()
        headers = {
            "Authorization": f"Bearer {token}",
            "Idempotency-Key": f"bench-{uuid.uuid4()}",
        }
        try:
            response = await self._http.post(next(self._urls), json=melding, headers=headers)
        except httpx.HTTPError:
            track.status = 0
            return
        track.accepted, track.status = time.time(), response.status_code
        if response.status_code == 202:
            self._follower.follow(str(response.json()["melding_id"]), track)

    async def burst(
        self, meldingen: Iterable[dict[str, Any]], concurrency: int, phase: str
    ) -> list[Track]:
        queue = list(meldingen)
        queue.reverse()
        tracks: list[Track] = []

        async def poster() -> None:
            while queue:
                track = Track(phase, sent=time.time())
                tracks.append(track)
                await self.post(queue.pop(), track)

        await asyncio.gather(*(poster() for _ in range(concurrency)))
        return tracks

    async def rate(
        self, meldingen: list[dict[str, Any]], per_second: float, phase: str
    ) -> list[Track]:
        """Send `meldingen` at `per_second`, one every 1/R s from now."""
        start_wall, start = time.time(), time.monotonic()
        tracks: list[Track] = []
        sending: list[asyncio.Task[None]] = []
        for i, melding in enumerate(meldingen):
            offset = i / per_second
            await asyncio.sleep(max(0.0, start + offset - time.monotonic()))
            track = Track(phase, sent=start_wall + offset)
            tracks.append(track)
            sending.append(asyncio.create_task(self.post(melding, track)))
        await asyncio.gather(*sending)
        return tracks


async def until_done(tracks: list[Track], timeout: float) -> None:
    """Wait until every accepted melding is decided and released, or `timeout` passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(t.done for t in tracks if t.status == 202):
            return
        await asyncio.sleep(0.1)


def load_parser(description: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line with the options of both shapes of load (burst and rate)
    and the seed of the melding variants, which every benchmark driving this load shares."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--meldingen", type=int, default=300, help="burst size (0: none)")
    parser.add_argument("-c", "--concurrency", type=int, default=16, help="posters in the burst")
    parser.add_argument("--rate", type=float, default=20.0, help="offered meldingen/s (0: none)")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long the rate runs")
    parser.add_argument("--seed", type=int, default=1, help="seed of the melding variants")
    return parser
