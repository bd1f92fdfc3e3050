"""The audit service: the consumer that records events and the HTTP API, in one process.

uvicorn serves the API and handles SIGINT/SIGTERM; the app's lifespan runs the supervised
consumer and the checkpoint timer, and on shutdown stops them, signs a last checkpoint and
closes the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator
from datetime import datetime

from fastapi import FastAPI

from services.audit.api import create_app
from services.audit.backends import open_ledger
from services.audit.erasure import erase_expired
from services.audit.keys import subject_key
from services.audit.ledger import Ledger
from services.audit.report.content import Controller
from services.audit.worker import CONSUMED, SERVICE, Recorder
from services.bus.runtime import running_consumer, serve
from services.common.ratelimit import RateLimit
from services.common.settings import Settings
from services.keyring.datakeys import DataKeyStore
from services.keyring.vault import Opener
from services.observability import health, metrics

log = logging.getLogger(__name__)


async def checkpoint_periodically(ledger: Ledger, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(ledger.checkpoint)
        except Exception as exc:  # retried at the next tick; never silent
            log.error("audit: checkpoint mislukt (%s)", type(exc).__name__)


async def erase_expired_periodically(
    ledger: Ledger, store: DataKeyStore, settings: Settings
) -> None:
    """The scheduled retention job (crypto-shredding at the end of a melding's term)."""
    while True:
        try:
            done = await asyncio.to_thread(
                erase_expired, ledger, store, settings.melding_retention_days
            )
            if done:
                log.info("audit: %d melding(en) na hun bewaartermijn gewist", len(done))
        except Exception as exc:  # retried at the next tick; never silent
            log.error("audit: bewaartermijn-taak mislukt (%s)", type(exc).__name__)
        await asyncio.sleep(settings.retention_check_seconds)


def build_app(settings: Settings) -> FastAPI:
    ledger = open_ledger(settings)
    key = subject_key(settings.keys_dir)
    opener = Opener.load(settings.keys_dir, "audit", DataKeyStore.of(settings))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with running_consumer(
            settings,
            SERVICE,
            [settings.topic(t) for t in CONSUMED],
            lambda publisher: Recorder(settings, ledger, key, publisher, opener).handling(),
        ):
            timers = [
                asyncio.create_task(
                    checkpoint_periodically(ledger, settings.audit_checkpoint_seconds)
                ),
                asyncio.create_task(erase_expired_periodically(ledger, opener.store, settings)),
            ]
            try:
                yield
            finally:
                for timer in timers:
                    timer.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await timer
        await asyncio.to_thread(ledger.checkpoint)
        ledger.close()
        opener.store.close()

    app = create_app(
        ledger,
        key,
        settings.staff_file,
        lifespan=lifespan,
        docs=settings.api_docs,
        controller=Controller.of(settings),
        public_limit=RateLimit.of(settings),
    )
    health.observe(
        app,
        settings,
        SERVICE,
        {"broker": health.broker(settings), "database": health.database(settings.audit_db_url)},
    )
    metrics.CHECKPOINT_AGE.set_function(lambda: checkpoint_age(ledger))
    return app


def checkpoint_age(ledger: Ledger) -> float:
    """Seconds since the last signed checkpoint (since the epoch when none was signed yet);
    NaN while the ledger cannot be read, so /metrics still answers (and /ready says why)."""
    try:
        signed = ledger.last_checkpoint_at()
    except Exception:  # a closed or unreachable store: no figure, not a failed scrape
        return math.nan
    return time.time() - (datetime.fromisoformat(signed).timestamp() if signed else 0.0)


def run(settings: Settings) -> None:
    """Run the audit service until SIGINT/SIGTERM."""
    serve(build_app(settings), settings, settings.audit_port)
