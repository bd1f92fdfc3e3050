"""Running a service: an HTTP app whose lifespan keeps a Kafka consumer going."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from services.common.consumer import Backoff, Handler, consume_forever
from services.common.kafka import make_producer
from services.common.settings import Settings

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def running_consumer(
    settings: Settings,
    service: str,
    topics: list[str],
    make_handler: Callable[[AIOKafkaProducer], Handler],
) -> AsyncIterator[AIOKafkaProducer]:
    """Start a producer and a supervised consumer; stop both on exit."""
    producer = make_producer(settings, client_id=f"kmt-{service}")
    await producer.start()
    handler = make_handler(producer)
    task = asyncio.create_task(_supervise(settings, service, topics, handler, producer))
    try:
        yield producer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await producer.stop()


async def _supervise(
    settings: Settings,
    service: str,
    topics: list[str],
    handler: Handler,
    producer: AIOKafkaProducer,
) -> None:
    """Keep the consumer running: if it fails (broker gone), start it again after a pause."""
    backoff = Backoff(cap=10.0)
    while True:
        try:
            await consume_forever(
                settings, service=service, topics=topics, handler=handler, producer=producer
            )
        except Exception as exc:
            delay = backoff.next()
            log.warning(
                "%s: consumer gestopt (%s); herstart over %.1f s",
                service,
                type(exc).__name__,
                delay,
            )
            await asyncio.sleep(delay)


def serve(app: FastAPI, settings: Settings, port: int) -> None:
    """Serve until SIGINT/SIGTERM; uvicorn then runs the lifespan's shutdown."""
    uvicorn.run(app, host=settings.bind_host, port=port, log_level="warning", access_log=False)
