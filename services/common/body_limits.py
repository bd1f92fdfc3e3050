"""A bounded request body for every route, before anything reads it.

uvicorn hands an app whatever a client sends, and FastAPI reads a declared body in full
before it solves any dependency. `BodyLimit` refuses a declared `Content-Length` above the
limit before the app runs (so without reading a byte of the body), and stops a body without a
declared length (chunked) as soon as more than the limit has arrived."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.problems import problem

LONGEST_LENGTH = 18
"""Digits of the largest `Content-Length` worth parsing; longer is above any limit (and
`int()` of thousands of digits is refused by Python itself)."""
CLOSE = {"Connection": "close"}
"""The rest of a refused body is not read: the server closes the connection after the 413."""


def too_large(limit: int) -> str:
    return f"Verzoek te groot: maximaal {limit} bytes"


class BodyTooLarge(HTTPException):
    """More than the limit arrived; the app's HTTP error handler answers it with 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large(limit), headers=CLOSE)


class BodyLimit:
    """ASGI middleware: at most `limit` bytes of request body reach `app`."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and (len(declared) > LONGEST_LENGTH or int(declared) > self.limit):
            await problem(413, too_large(self.limit), headers=CLOSE)(scope, receive, send)
            return
        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, bounded_receive, send)
