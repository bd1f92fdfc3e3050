"""Real receivers for what KMT sends out: an SMTP server (aiosmtpd) and an HTTP server that
keep every message with the moment it arrived. The alert tests and bench/alert_latency.py
use them; nothing here is a mock of KMT's side."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from services.devstack.paths import free_port


@dataclass(frozen=True)
class Received:
    at: float
    """`time.time()` when it arrived."""
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpSink:
    """An HTTP server that answers 204 and keeps each POST; `failing[path]` requests to a
    path are answered 503 first (a receiver that is down)."""

    port: int
    received: list[Received] = field(default_factory=list)
    failing: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]


@contextmanager
def http_sink() -> Iterator[HttpSink]:
    sink = HttpSink(free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with sink.lock:
                if sink.failing.get(self.path, 0) > 0:
                    sink.failing[self.path] -= 1
                    status = 503
                else:
                    sink.received.append(
                        Received(time.time(), self.path, dict(self.headers.items()), body)
                    )
                    status = 204
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", sink.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Mail:
    at: float
    recipients: list[str]
    message: Message

    @property
    def text(self) -> str:
        """Subject and body as one text."""
        payload = self.message.get_payload(decode=True)
        body = payload.decode() if isinstance(payload, bytes) else str(payload)
        return f"{self.message['Subject']}\n{body}"


@dataclass
class SmtpSink:
    port: int
    mails: list[Mail] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(
            Mail(time.time(), list(envelope.rcpt_tos), message_from_bytes(envelope.content))
        )
        return "250 OK"

    def about(self, melding_id: str) -> list[Mail]:
        return [m for m in list(self.mails) if m.message["X-KMT-Melding"] == melding_id]


@contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink(free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()
