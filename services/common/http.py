"""What every HTTP service shares: JSON errors in Dutch, never a stack trace, never a 500
for bad input, and a bounded request body."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.events import describe, describe_errors

log = logging.getLogger(__name__)


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
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise HTTPException(422, "Geen geldige JSON") from None


def validation_problem(message: str, exc: ValidationError) -> JSONResponse:
    return problem(422, message, describe(exc))
