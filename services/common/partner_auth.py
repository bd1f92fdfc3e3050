"""Partner authentication: OAuth 2.0 client credentials with `private_key_jwt` (RFC 7523).

A partner signs a short client assertion with its own private key (registered only as a
public JWK) and trades it at `POST /oauth/token` for an access token of a few minutes, which
it sends as `Authorization: Bearer`. No shared secret exists anywhere; every assertion is
used once (its `jti` is remembered until it expires, per service, in the service's state
database: shared by all its instances when that is PostgreSQL, so an assertion used at one
intake is refused at another).

Errors are problem details (RFC 9457) like every other error, carrying also RFC 6749's
`error` and `error_description` members for OAuth client libraries; the Dutch description
never says which check failed: a caller learns "authentication failed", not whether the
partner, key or claim was wrong.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwt import JWTClaimsRegistry
from starlette.concurrency import run_in_threadpool

from services.common.keys import SIGNING_ALG, load_token_key
from services.common.openapi import PARTNER_SCHEME, component
from services.common.partners import Partner, PartnerRegistry, RegistryFile
from services.common.problems import MEDIA_TYPE, OAuthProblem, title
from services.common.settings import Settings
from services.state.database import Database, open_state

TOKEN_PATH = "/oauth/token"
GRANT_TYPE = "client_credentials"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGS = ("EdDSA", "Ed25519", "ES256")
ASSERTION_MAX_LIFETIME = 300
ACCESS_TOKEN_LIFETIME = 300
ACCESS_TOKEN_TYPE = "at+jwt"  # RFC 9068
LEEWAY = 30
MAX_FORM_BYTES = 16 * 1024
ISSUER = "urn:kmt"

INVALID_CLIENT = "Clientauthenticatie mislukt."
INVALID_TOKEN = "Niet aangemeld: vraag een nieuw toegangstoken aan bij /oauth/token."


_bearer = HTTPBearer(
    auto_error=False,
    scheme_name=PARTNER_SCHEME,
    description=f"Toegangstoken van {TOKEN_PATH} (enkele minuten geldig).",
)
_OAUTH_PROBLEM_REF, _OAUTH_PROBLEM_COMPONENTS = component(OAuthProblem)
# The form is parsed by hand (no python-multipart dependency); this documents it in OpenAPI.
_TOKEN_REQUEST_DOC = {
    **_OAUTH_PROBLEM_COMPONENTS,
    "summary": "Toegangstoken met een ondertekende client assertion (RFC 7523)",
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["grant_type", "client_assertion_type", "client_assertion"],
                    "properties": {
                        "grant_type": {"const": GRANT_TYPE},
                        "client_assertion_type": {"const": ASSERTION_TYPE},
                        "client_assertion": {"type": "string"},
                        "client_id": {"type": "string"},
                    },
                }
            }
        },
    },
    "responses": {
        "200": {
            "description": "Toegangstoken",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["access_token", "token_type", "expires_in"],
                        "properties": {
                            "access_token": {"type": "string"},
                            "token_type": {"const": "Bearer"},
                            "expires_in": {"type": "integer"},
                        },
                    }
                }
            },
        },
        # RFC 6749 §5.2's members, inside the problem details every error answer has.
        **{
            status: {
                "description": description,
                "content": {MEDIA_TYPE: {"schema": _OAUTH_PROBLEM_REF}},
            }
            for status, description in (
                ("400", "Onvolledig of ongeldig verzoek (OAuth-fout, RFC 6749)"),
                ("401", "Clientauthenticatie mislukt (OAuth-fout, RFC 6749)"),
            )
        },
    },
}


class _Refused(Exception):
    """A client assertion or access token failed a check; which one is not told to the caller."""


def issuer_id(service: str) -> str:
    """The identifier a partner may use as `aud` of its client assertion for `service`."""
    return f"{ISSUER}:{service}"


def token_audiences(service: str, settings: Settings) -> list[str]:
    """What a client assertion for `service` may name as `aud`: this service's configured
    token endpoint, or its identifier. Never what the request's `Host` header says: that is
    the caller's to choose, so an assertion made for another token endpoint would pass."""
    return [settings.public_url(service) + TOKEN_PATH, issuer_id(service)]


def token_router(service: str, settings: Settings) -> APIRouter:
    """`POST /oauth/token` for `service` (`intake`, `sharing`)."""
    router = APIRouter(tags=["authenticatie"])
    audiences = token_audiences(service, settings)
    replay_guard = ReplayGuard(open_state(settings, service), service)
    registry = RegistryFile(settings.partners_file)

    @router.post(TOKEN_PATH, response_model=None, openapi_extra=_TOKEN_REQUEST_DOC)
    async def issue_token(request: Request) -> JSONResponse:
        form = await _read_form(request)
        if form is None or not {"grant_type", "client_assertion_type", "client_assertion"} <= set(
            form
        ):
            return oauth_error(
                400,
                "invalid_request",
                "Stuur grant_type, client_assertion_type en client_assertion als "
                "application/x-www-form-urlencoded, elk één keer.",
            )
        if form["grant_type"] != GRANT_TYPE:
            return oauth_error(
                400, "unsupported_grant_type", "Alleen grant_type=client_credentials."
            )
        if form["client_assertion_type"] != ASSERTION_TYPE:
            return oauth_error(401, "invalid_client", INVALID_CLIENT)
        try:
            partner = await run_in_threadpool(
                authenticate_client,
                form["client_assertion"],
                audiences,
                registry.current(),
                replay_guard,
            )
        except _Refused:
            return oauth_error(401, "invalid_client", INVALID_CLIENT)
        if "client_id" in form and form["client_id"] != partner.id:
            return oauth_error(401, "invalid_client", INVALID_CLIENT)
        token = issue_access_token(partner, service, settings.keys_dir)
        return JSONResponse(
            {"access_token": token, "token_type": "Bearer", "expires_in": ACCESS_TOKEN_LIFETIME},
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    return router


def partner_authenticated(service: str, settings: Settings) -> Callable[..., Partner]:
    """A FastAPI dependency: the `Partner` whose access token for `service` came along."""
    registry = RegistryFile(settings.partners_file)

    def authenticated_partner(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Partner:
        try:
            if credentials is None:
                raise _Refused
            return verify_access_token(
                credentials.credentials,
                service,
                settings.keys_dir,
                registry.current(),
            )
        except _Refused:
            raise HTTPException(
                401, INVALID_TOKEN, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            ) from None

    return authenticated_partner


def authenticate_client(
    assertion: str, audiences: list[str], registry: PartnerRegistry, replay_guard: ReplayGuard
) -> Partner:
    """The partner that signed `assertion`, after every RFC 7523 check; else `_Refused`."""
    try:
        claimed = json.loads(jws.extract_compact(assertion.encode()).payload)
        partner = registry.get(claimed["iss"]) if isinstance(claimed, dict) else None
        if partner is None:
            raise _Refused
        token = jwt.decode(assertion, partner.auth_public_key(), algorithms=ASSERTION_ALGS)
        now = int(time.time())
        JWTClaimsRegistry(
            now=now,
            leeway=LEEWAY,
            iss={"essential": True, "value": partner.id},
            sub={"essential": True, "value": partner.id},
            aud={"essential": True, "values": audiences},
            exp={"essential": True},
            jti={"essential": True},
        ).validate(token.claims)
    except (JoseError, ValueError, TypeError, KeyError):
        raise _Refused from None
    expiry = token.claims["exp"]
    if expiry > now + ASSERTION_MAX_LIFETIME + LEEWAY or len(token.claims["jti"]) > 200:
        raise _Refused
    if not replay_guard.first_use(partner.id, token.claims["jti"], expiry + LEEWAY, now):
        raise _Refused
    return partner


def issue_access_token(partner: Partner, service: str, keys_dir: Path) -> str:
    key = load_token_key(keys_dir, service)
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": partner.id,
        "client_id": partner.id,
        "aud": service,
        "iat": now,
        "exp": now + ACCESS_TOKEN_LIFETIME,
        "jti": str(uuid.uuid4()),
    }
    header = {"alg": SIGNING_ALG, "kid": str(key.kid), "typ": ACCESS_TOKEN_TYPE}
    return jwt.encode(header, claims, key, algorithms=[SIGNING_ALG])


def verify_access_token(
    token: str, service: str, keys_dir: Path, registry: PartnerRegistry
) -> Partner:
    """The partner an access token for `service` was issued to; else `_Refused`."""
    try:
        decoded = jwt.decode(token, load_token_key(keys_dir, service), algorithms=[SIGNING_ALG])
        if decoded.header.get("typ") != ACCESS_TOKEN_TYPE:
            raise _Refused
        JWTClaimsRegistry(
            leeway=LEEWAY,
            iss={"essential": True, "value": ISSUER},
            aud={"essential": True, "value": service},
            exp={"essential": True},
            sub={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError, TypeError):
        raise _Refused from None
    partner = registry.get(decoded.claims["sub"])
    if partner is None:  # removed from the registry since: no access any more
        raise _Refused
    return partner


def oauth_error(status: int, error: str, description: str) -> JSONResponse:
    body = OAuthProblem(
        title=title(status),
        status=status,
        detail=description,
        error=error,
        error_description=description,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def replay_schema(service: str) -> str:
    """The table of `service`'s used assertion ids (one per service: a writer role is granted
    only its own service's)."""
    return (
        f"CREATE TABLE IF NOT EXISTS {replay_table(service)} ("
        "partner_id TEXT NOT NULL, jti TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL, "
        "PRIMARY KEY (partner_id, jti));"
    )


def replay_table(service: str) -> str:
    return f"{service}_used_assertions"


REPLAY_GRANTS = "SELECT, INSERT, DELETE"


class ReplayGuard:
    """Which assertion ids (`jti`) were used, kept until the assertion could no longer be."""

    def __init__(self, db: Database, service: str) -> None:
        self._db = db
        self._table = replay_table(service)
        db.ensure_schema(replay_schema(service), [self._table], service)

    def first_use(self, partner_id: str, jti: str, expires_at: float, now: float) -> bool:
        """Record the use; False if this partner used this `jti` before and it still counts
        (also at another instance: a concurrent second use waits for the first to commit)."""
        with self._db.transaction() as db:
            db.execute(f"DELETE FROM {self._table} WHERE expires_at < ?", (now,))
            added = db.execute(
                f"INSERT INTO {self._table} VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (partner_id, jti, expires_at),
            ).rowcount
        return added == 1


async def _read_form(request: Request) -> dict[str, str] | None:
    """The url-encoded form, each field once; None if it is not one (or too large)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        fields = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return None
    if any(len(values) != 1 for values in fields.values()):
        return None
    return {name: values[0] for name, values in fields.items()}
