"""The reference partner client: authenticate, fetch, verify, decrypt, acknowledge, report.

Copy this (with `services/sharing/sealing.py`, which only needs joserfc) into your own
system; it is standard OAuth 2.0 `private_key_jwt` (RFC 7523) and nested JOSE
(EdDSA-signed JWS inside an ECDH-ES+A256KW / A256GCM JWE). `trail.py` checks that each
disclosure is in KMT's signed audit trail.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, JWKRegistry, KeySet, KeySetSerialization, OKPKey

from services.sharing.sealing import open_sealed

TOKEN_PATH = "/oauth/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 120
TOKEN_MARGIN = 30


class PartnerClientError(Exception):
    """A call to KMT failed; carries the HTTP status and KMT's (content-free) error body."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Page:
    """One page of `GET /v1/disclosures`: the items and the cursor for the next call."""

    items: list[dict[str, Any]]
    next_cursor: int


def client_assertion(partner_id: str, auth_key: OKPKey | ECKey, audience: str) -> str:
    """A signed, single-use client assertion (RFC 7523 §3) for the token endpoint `audience`."""
    auth_key.ensure_kid()
    alg = "EdDSA" if isinstance(auth_key, OKPKey) else "ES256"
    now = int(time.time())
    claims = {
        "iss": partner_id,
        "sub": partner_id,
        "aud": audience,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode({"alg": alg, "kid": str(auth_key.kid)}, claims, auth_key, algorithms=[alg])


@dataclass
class PartnerClient:
    """`encryption_private_jwk` is one private JWK, or a JWKS holding the current and the
    previous ones after a rotation (each disclosure's JWE names its key by `kid`)."""

    base_url: str
    partner_id: str
    auth_private_jwk: dict[str, Any]
    encryption_private_jwk: dict[str, Any]
    kmt_public_jwks: dict[str, Any]
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))
    _tokens: dict[str, tuple[str, float]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._encryption_keys = (
            KeySet.import_key_set(cast(KeySetSerialization, self.encryption_private_jwk))
            if "keys" in self.encryption_private_jwk
            else ECKey.import_key(self.encryption_private_jwk)
        )
        self._kmt_keys = KeySet.import_key_set(cast(KeySetSerialization, self.kmt_public_jwks))

    def token(self, base_url: str | None = None) -> str:
        """An access token for the service at `base_url` (default: sharing), reused until
        shortly before it expires."""
        url = (base_url or self.base_url).rstrip("/")
        cached = self._tokens.get(url)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        key = JWKRegistry.import_key(self.auth_private_jwk)
        assert isinstance(key, OKPKey | ECKey), "auth key must be Ed25519 or EC P-256"
        response = self.http.post(
            url + TOKEN_PATH,
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": client_assertion(self.partner_id, key, url + TOKEN_PATH),
            },
        )
        body = _json(response, "token aanvragen")
        self._tokens[url] = (body["access_token"], time.time() + body["expires_in"] - TOKEN_MARGIN)
        return str(body["access_token"])

    def fetch(self, cursor: int = 0) -> Page:
        """Released disclosures after `cursor`, oldest first, still sealed."""
        response = self._call("GET", "/v1/disclosures", params={"cursor": cursor})
        body = _json(response, "disclosures ophalen")
        return Page(items=list(body["items"]), next_cursor=int(body["next_cursor"]))

    def ack(self, disclosure_id: str) -> None:
        """Record receipt at KMT (audited); repeating it is harmless."""
        response = self._call("POST", f"/v1/disclosures/{disclosure_id}/ack")
        if response.status_code != 204:
            _json(response, "ontvangst bevestigen")

    def open(self, item: dict[str, Any]) -> dict[str, Any]:
        """Decrypt and verify an item; refuses one whose signed content names another
        disclosure or another melding (`melding_ref`: your own reference to the melding,
        the same in all your disclosures about it)."""
        payload = open_sealed(
            item["jwe"],
            recipient_private_key=self._encryption_keys,
            kmt_public_keys=self._kmt_keys,
        )
        if any(payload.get(k) != item.get(k) for k in ("disclosure_id", "melding_ref")):
            raise PartnerClientError("inhoud hoort niet bij deze disclosure")
        return payload

    def submit_melding(
        self, intake_url: str, body: dict[str, Any], idempotency_key: str
    ) -> dict[str, Any]:
        """Send a melding to intake; the same `idempotency_key` never makes a second one."""
        response = self._call(
            "POST",
            "/v1/meldingen",
            base_url=intake_url,
            json=body,
            headers={"Idempotency-Key": idempotency_key},
        )
        return dict(_json(response, "melding versturen"))

    def _call(
        self, method: str, path: str, *, base_url: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """One API call with a token; after a 401 once more with a fresh token."""
        url = (base_url or self.base_url).rstrip("/")
        headers = kwargs.pop("headers", {})

        def send() -> httpx.Response:
            auth = {"Authorization": f"Bearer {self.token(url)}"}
            return self.http.request(method, url + path, headers=headers | auth, **kwargs)

        response = send()
        if response.status_code == 401:
            self._tokens.pop(url, None)
            response = send()
        return response


def _json(response: httpx.Response, action: str) -> Any:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_success and body is not None:
        return body
    raise PartnerClientError(
        f"{action} mislukt: HTTP {response.status_code}", response.status_code, body
    )
