"""What every HTTP service shares: problem details in Dutch (`problems.py`), never a stack
trace or an exception message in a log, never a 500 for bad input, a bounded request body
(`body_limits.py`) read only after authentication, and bounded JSON nesting."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import solve_dependencies
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.body_limits import BodyLimit
from services.common.events import describe, describe_errors
from services.common.openapi import install_openapi
from services.common.problems import problem

log = logging.getLogger(__name__)

MAX_INTEGER = 2**62
"""Largest integer a query or path parameter may carry; the stores use signed 64 bits, so a
larger one would overflow there (a 500) instead of being refused here (a 422)."""
MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects a JSON body may have; no contract comes near it."""
TOO_DEEP = f"JSON te diep genest: maximaal {MAX_JSON_DEPTH} niveaus van arrays en objecten"
SMALL_BODY_BYTES = 64 * 1024
"""The body limit of a service whose requests carry no melding (a verdict, a subject query)."""
INTERNAL_ERROR = (
    "Interne fout; probeer het later opnieuw en meld het aan KMT als het blijft gebeuren."
)


def documentation(enabled: bool) -> dict[str, Any]:
    """FastAPI's `/docs`, `/redoc` and `/openapi.json`, or none of them (`KMT_API_DOCS`)."""
    if enabled:
        return {}
    return {"docs_url": None, "redoc_url": None, "openapi_url": None}


def install_error_handlers(app: FastAPI, max_body_bytes: int = SMALL_BODY_BYTES) -> None:
    """Dutch problem details for every error, a body of at most `max_body_bytes`, read only
    after the route's authentication, bounded JSON nesting for every body FastAPI parses
    itself, and an OpenAPI document that says all this: call it before the app declares its
    routes."""
    app.router.route_class = BoundedJsonRoute
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    app.add_middleware(ContainErrors)  # added last: the outermost, so it sees every error
    install_openapi(app)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(422, "Verzoek ongeldig", describe_errors(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), headers=exc.headers)


class ContainErrors:
    """ASGI middleware: an unexpected exception becomes a Dutch 500 and one log line with
    its type only. Starlette's own handler would answer the 500 and then raise the exception
    again, so that uvicorn logs its traceback, message included, and the message of an
    unexpected error may quote personal data."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            route = getattr(scope.get("route"), "path", "(geen route)")
            log.error("onverwachte fout bij %s %s: %s", scope["method"], route, type(exc).__name__)
            if not started:  # else the client sees the answer cut off, and no more
                await problem(500, INTERNAL_ERROR)(scope, receive, send)


async def read_json_body(request: Request) -> Any:
    """The body as JSON (422 for non-JSON); `BodyLimit` has bounded its size."""
    return parse_json(await request.body())


def parse_json(body: bytes) -> Any:
    """`body` as JSON: 422 for non-JSON and for nesting deeper than `MAX_JSON_DEPTH`."""
    try:
        value = json.loads(body)
    except RecursionError:
        raise HTTPException(422, TOO_DEEP) from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise HTTPException(422, "Geen geldige JSON") from None
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise HTTPException(422, TOO_DEEP)
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects in `value` nest more than `limit` levels (no recursion)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


class _BoundedJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


def _authentication(dependant: Dependant) -> Dependant | None:
    """The route's own dependencies that read credentials (an `HTTPBearer`, …), as one
    dependant to solve; None if it has none."""
    checks = [
        d
        for d in dependant.dependencies
        if any(isinstance(sub.call, SecurityBase) for sub in d.dependencies)
    ]
    return Dependant(dependencies=checks) if checks else None


class BoundedJsonRoute(APIRoute):
    """A route that authenticates before it reads a body (FastAPI itself reads a declared
    body first, so a caller without a token could make it read one), and whose JSON body
    goes through `parse_json`: too deep nesting is a Dutch 422, not FastAPI's English 400
    (or a RecursionError)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        authentication = _authentication(self.dependant) if self.body_field else None

        async def bounded(request: Request) -> Response:
            bounded_request = _BoundedJsonRequest(request.scope, request.receive)
            if authentication is not None:  # 401/403 before a byte of the body is read
                await _solve(bounded_request, authentication)
            return await handler(bounded_request)

        return bounded


async def _solve(request: Request, dependant: Dependant) -> None:
    """Run `dependant`'s dependencies (FastAPI runs them again with the body; they are
    checks without side effects)."""
    async with AsyncExitStack() as stack:
        solved = await solve_dependencies(
            request=request, dependant=dependant, async_exit_stack=stack, embed_body_fields=False
        )
    if solved.errors:
        raise RequestValidationError(solved.errors)


def validation_problem(message: str, exc: ValidationError) -> JSONResponse:
    return problem(422, message, describe(exc))
