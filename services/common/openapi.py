"""The OpenAPI documents say what the services do, so partners can generate clients from
them: every error is the one problem-details shape (`problems.py`), every status a route can
answer is listed, and what FastAPI cannot see (a body a route reads itself, a header it
checks itself) is declared with the helpers here.

Statuses every route of a kind shares are added here, once: 401 (and 403 for staff) where a
token is needed, 413 where a body is sent, 422 where anything is validated. A route lists
only its own (`problems(404, 409)`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from services.common.problems import MEDIA_TYPE, Problem, title

COMPONENTS = "#/components/schemas/{model}"
EXTRA_COMPONENTS = "x-kmt-components"
"""An operation's schemas that belong in `components` (moved there when the document is
made; FastAPI only collects the models it validates itself)."""
PARTNER_SCHEME = "partnertoken"
STAFF_SCHEME = "medewerkertoken"
SCHEME_STATUSES = {PARTNER_SCHEME: (401,), STAFF_SCHEME: (401, 403)}
DUTCH_DESCRIPTIONS = {"Successful Response": "Gelukt"}
FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=`: these statuses answer with problem details."""
    return {status: _problem_response(status) for status in statuses}


def answer(model: type[BaseModel] | Any, description: str = "Gelukt") -> dict[str, Any]:
    """A success entry of a route's `responses=` (with `response_model=None`): documents the
    answer as `model` (FastAPI adds it to the components) while the route answers as it
    builds it, so a field it adds is not silently dropped."""
    return {"model": model, "description": description}


def json_body(model: type[BaseModel], description: str) -> dict[str, Any]:
    """A route's `openapi_extra` when it reads `model` as its JSON body itself (after its own
    checks), so FastAPI does not know the body is there."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": {"$ref": _ref(model)}}},
        },
        EXTRA_COMPONENTS: _schemas(model),
    }


def component(model: type[BaseModel]) -> tuple[dict[str, str], dict[str, Any]]:
    """A `$ref` to `model` and the `openapi_extra` entry that puts it (and what it refers to)
    in the document's components."""
    return {"$ref": _ref(model)}, {EXTRA_COMPONENTS: _schemas(model)}


def required_header(name: str, description: str, **schema: Any) -> dict[str, Any]:
    """A route's `openapi_extra` for a header it checks itself (declared to FastAPI with
    `include_in_schema=False`, so that its own status, not FastAPI's 422, answers a missing
    one)."""
    return {
        "parameters": [
            {
                "name": name,
                "in": "header",
                "required": True,
                "description": description,
                "schema": {"type": "string", **schema},
            }
        ]
    }


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` complete FastAPI's document as described above."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's `document` with the problem-details schema instead of FastAPI's validation
    error, every operation's shared statuses, and Dutch where FastAPI wrote English."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in FASTAPI_VALIDATION:
        schemas.pop(name, None)
    schemas.update(_schemas(Problem))
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            schemas.update(operation.pop(EXTRA_COMPONENTS, {}))
            responses = operation.setdefault("responses", {})
            for status in _shared_statuses(operation):
                if status == 422 or str(status) not in responses:
                    responses[str(status)] = _problem_response(status)
            for response in responses.values():
                description = response.get("description", "")
                response["description"] = DUTCH_DESCRIPTIONS.get(description, description)
            operation["responses"] = dict(sorted(responses.items()))
    return document


def _shared_statuses(operation: dict[str, Any]) -> list[int]:
    statuses = [
        status
        for requirement in operation.get("security", [])
        for scheme in requirement
        for status in SCHEME_STATUSES.get(scheme, ())
    ]
    body = operation.get("requestBody", {}).get("content", {})
    if body:
        statuses.append(413)
    if operation.get("parameters") or "application/json" in body:
        statuses.append(422)
    return sorted(set(statuses))


def _problem_response(status: int) -> dict[str, Any]:
    return {
        "description": title(status),
        "content": {MEDIA_TYPE: {"schema": {"$ref": _ref(Problem)}}},
    }


def _ref(model: type[BaseModel]) -> str:
    return COMPONENTS.format(model=model.__name__)


def _schemas(model: type[BaseModel]) -> dict[str, Any]:
    """`model`'s JSON schema and those it refers to, by their component name."""
    schema = model.model_json_schema(ref_template=COMPONENTS)
    return {**schema.pop("$defs", {}), model.__name__: schema}
