"""Running a service: an HTTP app whose lifespan keeps a Kafka consumer going."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import uvicorn
from fastapi import FastAPI

from services.bus.consumer import Handler, Handling, consume_forever, restarting
from services.bus.kafka import Publisher
from services.common.settings import Settings


@contextlib.asynccontextmanager
async def running_consumer(
    settings: Settings,
    service: str,
    topics: list[str],
    make_handler: Callable[[Publisher], Handler | Handling],
) -> AsyncIterator[Publisher]:
    """Start a publisher and a supervised consumer; stop both on exit."""
    publisher = Publisher(settings, service)
    await publisher.start()
    handler = make_handler(publisher)
    task = asyncio.create_task(supervise(settings, service, topics, handler, publisher))
    try:
        yield publisher
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await publisher.stop()


async def supervise(
    settings: Settings,
    service: str,
    topics: list[str],
    handler: Handler | Handling,
    publisher: Publisher,
) -> None:
    """Keep the consumer running: if it fails (broker gone), start it again after a pause."""
    await restarting(
        f"{service}: consumer",
        lambda: consume_forever(
            settings, service=service, topics=topics, handler=handler, publisher=publisher
        ),
    )


def serve(app: FastAPI, settings: Settings, port: int) -> None:
    """Serve until SIGINT/SIGTERM; uvicorn then runs the lifespan's shutdown. A request's
    client is its peer, or the `X-Forwarded-For` of a trusted TLS terminator."""
    uvicorn.run(
        app,
        host=settings.bind_host,
        port=port,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
