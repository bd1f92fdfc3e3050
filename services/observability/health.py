"""Liveness and readiness, and where they are served.

`/health` says the process is alive. `/ready` asks each dependency the service needs (the
broker, OPA, its database) and its consumer: a record retried for longer than
`KMT_READY_RETRY_SECONDS` makes the service not ready (503), naming the check that failed,
so the orchestrator and the operator see a stuck partition, not only a log line. Checks are
plain functions (they may block: they run in a thread), shared by the HTTP services and the
small server of the routing worker, which has no HTTP API of its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.requests import Request
from starlette.routing import Route

from services.common.settings import Settings
from services.observability import metrics, tracing

log = logging.getLogger(__name__)
Check = Callable[[], None]
"""Raises when the dependency is not usable; the exception's type is what `/ready` shows."""
PROBE_TIMEOUT_S = 2.0


@dataclass
class Retrying:
    """The records a process's consumers are retrying now, by consumer, since when."""

    since: dict[tuple[str, str, int, int], float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def failing(self, consumer: str, topic: str, partition: int, offset: int) -> None:
        with self.lock:
            self.since.setdefault((consumer, topic, partition, offset), time.monotonic())
        self._publish(consumer)

    def done(self, consumer: str, topic: str, partition: int, offset: int) -> None:
        with self.lock:
            self.since.pop((consumer, topic, partition, offset), None)
        self._publish(consumer)

    def longest(self, consumer: str | None = None) -> float:
        now = time.monotonic()
        with self.lock:
            ages = [now - t for k, t in self.since.items() if consumer in (None, k[0])]
        return max(ages, default=0.0)

    def _publish(self, consumer: str) -> None:
        with self.lock:
            count = sum(1 for k in self.since if k[0] == consumer)
        metrics.RETRYING.labels(consumer).set(count)
        metrics.RETRY_SECONDS.labels(consumer).set_function(lambda: self.longest(consumer))


RETRYING = Retrying()


class NotReady(Exception):
    pass


def broker(settings: Settings) -> Check:
    """A TCP connection to one of the bootstrap servers."""

    def check() -> None:
        failure: OSError | None = None
        for server in settings.kafka_bootstrap.split(","):
            host, _, port = server.strip().rpartition(":")
            try:
                socket.create_connection((host, int(port)), PROBE_TIMEOUT_S).close()
                return
            except OSError as exc:
                failure = exc
        raise NotReady("broker") from failure

    return check


def opa(settings: Settings) -> Check:
    """OPA's own health endpoint: up, with its bundle loaded."""

    return http(f"{settings.opa_url}/health")


def http(url: str) -> Check:
    """Another service this one calls, answering its `/health`."""

    def check() -> None:
        httpx.get(url, timeout=PROBE_TIMEOUT_S).raise_for_status()

    return check


def database(url: str) -> Check:
    """A PostgreSQL database answering `SELECT 1`; an embedded SQLite store (no URL) is
    reachable whenever the process is."""

    def check() -> None:
        if url:
            import psycopg

            with psycopg.connect(url, connect_timeout=int(PROBE_TIMEOUT_S)) as connection:
                connection.execute("SELECT 1")

    return check


def retries(settings: Settings) -> Check:
    def check() -> None:
        longest = RETRYING.longest()
        if longest > settings.ready_retry_seconds:
            raise NotReady(f"record al {longest:.0f} s in herhaling")

    return check


def answer(checks: dict[str, Check]) -> tuple[bool, dict[str, object]]:
    """Run every check: each is `ok` or what failed (an exception type, or our own words)."""
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except NotReady as exc:
            results[name] = f"niet gereed: {exc}"
        except Exception as exc:  # by type only: a message may name an address
            results[name] = f"niet bereikbaar ({type(exc).__name__})"
    ok = all(v == "ok" for v in results.values())
    return ok, {"status": "gereed" if ok else "niet gereed", "checks": results}


def observe(app: FastAPI, settings: Settings, service: str, checks: dict[str, Check]) -> None:
    """Give an HTTP service traces, `/metrics` and `/ready` (its `/health` is its own)."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    provider = tracing.setup(service, settings.otlp_traces_endpoint)
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls="/health,/ready,/metrics"
    )
    app.add_middleware(metrics.HttpMetrics, service=service)
    every = {**checks, "herhalingen": retries(settings)}

    async def ready(_: Request) -> JSONResponse:
        ok, body = await asyncio.to_thread(answer, every)
        return JSONResponse(body, status_code=200 if ok else 503)

    app.router.routes.append(Route("/metrics", metrics.metrics_endpoint, include_in_schema=False))
    app.router.routes.append(Route("/ready", ready, include_in_schema=False))


def probe(path: str, checks: dict[str, Check]) -> tuple[HTTPStatus, bytes, str] | None:
    """The status, body and content type of `/metrics`, `/health` or `/ready` for a server
    without FastAPI (`serve_side_port`, the policy bundle server); None for any other path."""
    if path == "/metrics":
        body, kind = metrics.exposition()
        return HTTPStatus.OK, body, kind
    if path == "/health":
        return HTTPStatus.OK, b'{"status": "ok"}', "application/json"
    if path == "/ready":
        ok, said = answer(checks)
        status = HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE
        return status, json.dumps(said).encode(), "application/json"
    return None


def serve_side_port(
    settings: Settings, service: str, port: int, checks: dict[str, Check]
) -> ThreadingHTTPServer | None:
    """`/metrics`, `/health` and `/ready` of a worker without an HTTP API, in a thread."""
    tracing.setup(service, settings.otlp_traces_endpoint)
    every = {**checks, "herhalingen": retries(settings)}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = probe(self.path, every)
            if found is None:
                found = HTTPStatus.NOT_FOUND, b'{"status": "onbekend"}', "application/json"
            self._answer(*found)

        def _answer(self, status: HTTPStatus, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # no access log: paths could be anything a caller typed

    try:
        server = ThreadingHTTPServer((settings.bind_host, port), Handler)
    except OSError as exc:  # the worker goes on; the failing scrape tells the operator
        log.error("%s: /metrics en /ready niet op poort %d (%s)", service, port, type(exc).__name__)
        return None
    threading.Thread(target=server.serve_forever, daemon=True, name=f"{service}-health").start()
    return server
