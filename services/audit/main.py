"""The audit service: the consumer that records events and the HTTP API, in one process.

uvicorn serves the API and handles SIGINT/SIGTERM; the app's lifespan starts the producer,
the consumer loop and the checkpoint timer, and stops them when uvicorn shuts down. If the
consumer loop dies, the process asks itself to stop: an audit service that no longer records
must not look alive.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from services.audit.api import create_app
from services.audit.backends import CHECKPOINT_SECONDS, open_ledger
from services.audit.keys import subject_key
from services.audit.ledger import Ledger
from services.audit.worker import CONSUMED, SERVICE, Recorder
from services.common.consumer import consume_forever
from services.common.kafka import make_producer
from services.common.settings import Settings

log = logging.getLogger(__name__)


async def checkpoint_periodically(ledger: Ledger, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(ledger.checkpoint)
        except Exception as exc:  # retried at the next tick; never silent
            log.error("audit: checkpoint mislukt (%s)", type(exc).__name__)


def _stop_when_dead(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("audit: consumer gestopt (%s); service stopt", type(task.exception()).__name__)
        os.kill(os.getpid(), signal.SIGTERM)


def build_app(settings: Settings, *, checkpoint_seconds: float = CHECKPOINT_SECONDS) -> FastAPI:
    ledger = open_ledger(settings)
    key = subject_key(settings.keys_dir)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        producer = make_producer(settings, client_id="kmt-audit")
        await producer.start()
        recorder = Recorder(settings, ledger, key, producer)
        consumer = asyncio.create_task(
            consume_forever(
                settings,
                service=SERVICE,
                topics=[settings.topic(t) for t in CONSUMED],
                handler=recorder.handle,
                producer=producer,
            )
        )
        consumer.add_done_callback(_stop_when_dead)
        timer = asyncio.create_task(checkpoint_periodically(ledger, checkpoint_seconds))
        try:
            yield
        finally:
            for task in (consumer, timer):
                task.cancel()
            await asyncio.gather(consumer, timer, return_exceptions=True)
            await producer.stop()
            await asyncio.to_thread(ledger.checkpoint)
            ledger.close()

    return create_app(ledger, key, settings.staff_file, lifespan=lifespan)


def run(settings: Settings) -> None:
    """Run the audit service until SIGINT/SIGTERM."""
    uvicorn.run(build_app(settings), host=settings.bind_host, port=settings.audit_port)
