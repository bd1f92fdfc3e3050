"""The one shape of every error answer: problem details (RFC 9457), in Dutch, as
`application/problem+json`."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

MEDIA_TYPE = "application/problem+json"
TITLES = {
    400: "Ongeldig verzoek",
    401: "Niet aangemeld",
    403: "Geen toegang",
    404: "Niet gevonden",
    405: "Methode niet toegestaan",
    409: "Conflict",
    410: "Niet meer beschikbaar",
    413: "Verzoek te groot",
    415: "Mediatype niet ondersteund",
    422: "Verzoek ongeldig",
    428: "Voorwaarde ontbreekt",
    429: "Te veel verzoeken",
    500: "Interne fout",
    503: "Tijdelijk niet beschikbaar",
}


class ProblemError(BaseModel):
    """One thing wrong with the request: where, and what."""

    model_config = ConfigDict(extra="forbid", title="Fout")
    path: str = Field(description="Waar in het verzoek, bijvoorbeeld `body.victim.bsn`.")
    message: str = Field(description="Wat er mis is, in het Nederlands.")


class Problem(BaseModel):
    """Probleembeschrijving (RFC 9457) van elke 4xx- en 5xx-reactie."""

    model_config = ConfigDict(extra="forbid", title="Probleem")
    type: str = Field(
        default="about:blank",
        description="Altijd `about:blank`: de statuscode zegt wat voor probleem het is.",
    )
    title: str = Field(description="Korte omschrijving van de statuscode, in het Nederlands.")
    status: int = Field(ge=400, le=599, description="De HTTP-statuscode.")
    detail: str = Field(description="Wat er mis is en wat u kunt doen, in het Nederlands.")
    errors: list[ProblemError] | None = Field(
        default=None, description="Bij een ongeldig verzoek: elk veld dat niet klopt."
    )


class OAuthProblem(Problem):
    """Problem details of the token endpoint: also RFC 6749 §5.2's `error` and
    `error_description` members, which OAuth client libraries read."""

    model_config = ConfigDict(extra="forbid", title="OAuth-probleem")
    error: str = Field(description="OAuth-foutcode (RFC 6749 §5.2), bijv. `invalid_client`.")
    error_description: str = Field(description="Wat er mis is, in het Nederlands.")


def title(status: int) -> str:
    return TITLES.get(status, "Fout")


def dutch(status: int, message: str) -> str:
    """`message`, unless it is the English default phrase of `status` (Starlette's own 404
    and 405): then the Dutch title."""
    try:
        english = HTTPStatus(status).phrase
    except ValueError:
        return message
    return title(status) if message == english else message


def problem(
    status: int,
    message: str,
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        title=title(status),
        status=status,
        detail=dutch(status, message),
        errors=None if errors is None else [ProblemError.model_validate(e) for e in errors],
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        headers=headers,
        media_type=MEDIA_TYPE,
    )
