"""What every HTTP service shares: JSON errors in Dutch, never a stack trace, never a 500
for bad input, a bounded request body and bounded JSON nesting."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.events import describe, describe_errors

log = logging.getLogger(__name__)

MAX_INTEGER = 2**62
"""Largest integer a query or path parameter may carry; the stores use signed 64 bits, so a
larger one would overflow there (a 500) instead of being refused here (a 422)."""
MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects a JSON body may have; no contract comes near it."""
TOO_DEEP = f"JSON te diep genest: maximaal {MAX_JSON_DEPTH} niveaus van arrays en objecten"


def documentation(enabled: bool) -> dict[str, Any]:
    """FastAPI's `/docs`, `/redoc` and `/openapi.json`, or none of them (`KMT_API_DOCS`)."""
    if enabled:
        return {}
    return {"docs_url": None, "redoc_url": None, "openapi_url": None}


def problem(status: int, message: str, errors: list[dict[str, str]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"detail": message}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(status_code=status, content=body)


def install_error_handlers(app: FastAPI) -> None:
    """Dutch problem answers for every error, and bounded JSON nesting for every body FastAPI
    parses itself: call it before the app declares its routes."""
    app.router.route_class = BoundedJsonRoute

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(422, "Verzoek ongeldig", describe_errors(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = problem(exc.status_code, str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Only the type: the message of an unexpected error may quote personal data.
        log.error(
            "onverwachte fout bij %s %s: %s", request.method, request.url.path, type(exc).__name__
        )
        return problem(
            500,
            "Interne fout; probeer het later opnieuw en meld het aan KMT als het blijft gebeuren.",
        )


async def read_json_body(request: Request, limit: int) -> Any:
    """The body as JSON, refusing more than `limit` bytes (413) and non-JSON (422)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"Verzoek te groot: maximaal {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"Verzoek te groot: maximaal {limit} bytes")
    return parse_json(bytes(body))


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


class BoundedJsonRoute(APIRoute):
    """A route whose JSON body goes through `parse_json`: too deep nesting is a Dutch 422,
    not FastAPI's English 400 (or a RecursionError)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def bounded(request: Request) -> Response:
            return await handler(_BoundedJsonRequest(request.scope, request.receive))

        return bounded


def validation_problem(message: str, exc: ValidationError) -> JSONResponse:
    return problem(422, message, describe(exc))
