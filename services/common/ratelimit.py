"""Rate limits for what anyone may call without a token, per client address.

A token bucket per client: `burst` requests at once, then `per_minute` a minute; beyond that
429 with `Retry-After`. An IPv6 client counts per /64 (what one subscriber is usually given),
so changing the interface address does not reset its limit. The client address is the peer
uvicorn reports, which behind the TLS terminator is the `X-Forwarded-For` it trusts
(`KMT_FORWARDED_ALLOW_IPS`). Staff with a valid bearer token are not limited. Buckets live
in memory, at most `MAX_CLIENTS` of them; the least recently seen goes first.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request

from services.common.settings import Settings
from services.common.staff import authenticate

MAX_CLIENTS = 100_000


@dataclass(frozen=True)
class RateLimit:
    per_minute: int
    burst: int

    @classmethod
    def of(cls, settings: Settings) -> RateLimit:
        return cls(settings.public_rate_per_minute, settings.public_rate_burst)


class RateLimiter:
    """Token buckets by client key; not thread-safe: use it from the event loop."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        """client -> (tokens left, when they were counted)"""

    def wait(self, client: str) -> float:
        """Take one request for `client`: 0 when allowed, else the seconds until it would be."""
        now = self.clock()
        rate = self.limit.per_minute / 60
        tokens, then = self._buckets.pop(client, (float(self.limit.burst), now))
        tokens = min(float(self.limit.burst), tokens + (now - then) * rate)
        allowed = tokens >= 1
        self._buckets[client] = (tokens - 1 if allowed else tokens, now)
        if len(self._buckets) > MAX_CLIENTS:
            self._buckets.popitem(last=False)
        return 0.0 if allowed else (1 - tokens) / rate


def client_key(request: Request) -> str:
    """The address a limit counts: the client's IPv4 address, or its IPv6 /64."""
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def install_rate_limit(app: FastAPI, limit: RateLimit) -> None:
    """Give `app` the buckets its `Throttled` routes count in."""
    app.state.rate_limiter = RateLimiter(limit)


async def limit_unauthenticated(request: Request) -> None:
    """429 for a caller without a valid staff token beyond the app's limit."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        staff_file = getattr(request.app.state, "staff_file", None)
        if await asyncio.to_thread(authenticate, token.strip(), staff_file):
            return
    limiter: RateLimiter = request.app.state.rate_limiter
    wait = limiter.wait(client_key(request))
    if wait:
        seconds = max(1, math.ceil(wait))
        raise HTTPException(
            429,
            f"Te veel verzoeken van dit adres; probeer het over {seconds} seconden opnieuw.",
            headers={"Retry-After": str(seconds)},
        )


Throttled = Annotated[None, Depends(limit_unauthenticated)]
"""A route parameter that applies the app's rate limit (see `install_rate_limit`)."""
