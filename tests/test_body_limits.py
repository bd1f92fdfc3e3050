"""A request body is bounded before it is read, and read only after authentication: a
caller without a token who offers 200 MB gets 401 having sent nothing that was read, and a
caller with one gets 413 with at most the limit read (issue 9 item 10).

The apps are driven at the ASGI level, so the test counts exactly the bytes an app pulled;
one test sends through a real uvicorn over a socket, as an attacker would."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from services.common.body_limits import too_large
from services.common.http import SMALL_BODY_BYTES
from services.common.partner_auth import MAX_FORM_BYTES
from services.common.staff import add_member
from services.devstack.paths import free_port
from tests.test_input_bounds import Services, services  # noqa: F401  (fixture)

MB = 1024 * 1024
ATTACK = 200 * MB
CHUNK = b"[" * MB

# Every route that takes a body: (service, path, who may call it).
BODY_ROUTES = [
    ("intake", "/v1/meldingen", "partner"),
    ("sharing", "/v1/reviews/d-1", "kmt_worker"),
    ("audit", "/v1/audit/subjects/search", "privacy_officer"),
    ("audit", "/v1/audit/subjects/report", "privacy_officer"),
    ("audit", "/v1/audit/subjects/report.html", "privacy_officer"),
    ("audit", "/v1/audit/subjects/report.pdf", "privacy_officer"),
]


def test_every_secured_route_with_a_body_is_examined_here(services: Services) -> None:  # noqa: F811
    documented = {
        (service, path)
        for service, app in services.apps.items()
        for path, methods in app.openapi()["paths"].items()
        for operation in methods.values()
        if "requestBody" in operation and operation.get("security")
    }
    examined = {(service, path) for service, path, _ in BODY_ROUTES}
    assert documented == {(s, p.replace("d-1", "{disclosure_id}")) for s, p in examined}


@dataclass
class Answer:
    status: int
    body: bytes
    read: int
    """Bytes of request body the app pulled."""


def call(app: FastAPI, path: str, headers: dict[str, str], size: int, declare: bool) -> Answer:
    """POST `size` bytes of body, offered 1 MB at a time (never built in memory), with or
    without a `Content-Length` that says so."""
    pulled = 0
    sent: list[dict[str, Any]] = []
    all_headers = {"content-type": "application/json", **headers}
    if declare:
        all_headers["content-length"] = str(size)

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled >= size:
            await asyncio.sleep(3600)  # the client waits for an answer
        chunk = CHUNK[: min(MB, size - pulled)]
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": pulled < size}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in all_headers.items()],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 60))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Answer(start["status"], body, pulled)


def credentials(services: Services, service: str, who: str) -> dict[str, str]:  # noqa: F811
    if who == "partner":  # with all else a melding needs, so that only the body is left
        return {**services.partner_auth[service], "Idempotency-Key": "groot-1"}
    token = add_member(f"{who.replace('_', '-')}-1", who, services.settings.staff_file)
    return {"Authorization": f"Bearer {token}"}


def limit_of(services: Services, service: str) -> int:  # noqa: F811
    return services.settings.max_body_bytes if service == "intake" else SMALL_BODY_BYTES


@pytest.mark.parametrize(("service", "path", "who"), BODY_ROUTES)
@pytest.mark.parametrize("token", [False, True], ids=["no-token", "token"])
def test_a_declared_200_mb_is_refused_before_a_byte_is_read(
    services: Services,  # noqa: F811
    service: str,
    path: str,
    who: str,
    token: bool,
) -> None:
    headers = credentials(services, service, who) if token else {}
    answer = call(services.apps[service], path, headers, ATTACK, declare=True)
    assert (answer.status, answer.read) == (413, 0)
    assert too_large(limit_of(services, service)).encode() in answer.body


@pytest.mark.parametrize(("service", "path", "who"), BODY_ROUTES)
def test_without_a_token_nothing_of_an_undeclared_body_is_read(
    services: Services,  # noqa: F811
    service: str,
    path: str,
    who: str,
) -> None:
    answer = call(services.apps[service], path, {}, ATTACK, declare=False)
    assert (answer.status, answer.read) == (401, 0)


def test_a_wrong_token_is_as_good_as_none(services: Services) -> None:  # noqa: F811
    forged = {"Authorization": "Bearer " + "x" * 40}
    for service, path, _ in BODY_ROUTES:
        answer = call(services.apps[service], path, forged, ATTACK, declare=False)
        assert (answer.status, answer.read) == (401, 0), path


def test_a_staff_member_of_another_role_reads_no_body(services: Services) -> None:  # noqa: F811
    answer = call(
        services.apps["audit"],
        "/v1/audit/subjects/report",
        credentials(services, "audit", "kmt_worker"),
        ATTACK,
        declare=False,
    )
    assert (answer.status, answer.read) == (403, 0)


@pytest.mark.parametrize(("service", "path", "who"), BODY_ROUTES)
def test_with_a_token_an_undeclared_body_stops_at_the_limit(
    services: Services,  # noqa: F811
    service: str,
    path: str,
    who: str,
) -> None:
    limit = limit_of(services, service)
    answer = call(
        services.apps[service], path, credentials(services, service, who), ATTACK, declare=False
    )
    assert answer.status == 413
    assert answer.read <= limit + MB  # the chunk that crossed the limit, no more


@pytest.mark.parametrize("service", ["intake", "sharing"])
def test_the_token_endpoint_reads_no_more_than_a_form(
    services: Services,  # noqa: F811
    service: str,
) -> None:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    answer = call(services.apps[service], "/oauth/token", headers, ATTACK, declare=False)
    assert answer.status in (400, 413)
    assert answer.read <= MAX_FORM_BYTES + MB


@pytest.fixture
def served(services: Services) -> Iterator[int]:  # noqa: F811
    """The sharing app behind a real uvicorn (its broker consumer not started)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(services.apps["sharing"], port=port, lifespan="off", log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(10)


def exchange(port: int, head: str, body: bytes) -> tuple[bytes, float]:
    """Send a request head and the first part of its body, never the rest: the answer, and
    how long it took. A server that waited for the whole body would not answer at all."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(head.encode() + body)
        answer = connection.recv(65536)
    return answer, time.monotonic() - started


def test_through_uvicorn_an_attacker_gets_an_answer_without_sending_the_body(
    served: int,
) -> None:
    declared = (
        "POST /v1/reviews/d-1 HTTP/1.1\r\nHost: kmt\r\nContent-Type: application/json\r\n"
        f"Content-Length: {ATTACK}\r\n\r\n"
    )
    answer, took = exchange(served, declared, b"[" * 1024)
    assert answer.startswith(b"HTTP/1.1 413 ") and took < 3
    assert b"application/problem+json" in answer

    chunked = (
        "POST /v1/reviews/d-1 HTTP/1.1\r\nHost: kmt\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    answer, took = exchange(served, chunked, b"400\r\n" + b"[" * 1024 + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 401 ") and took < 3
