"""POST /oauth/token (private_key_jwt) and the bearer dependency, through FastAPI."""

import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey

from services.common import keys
from services.common.http import install_error_handlers
from services.common.partner_auth import (
    ASSERTION_TYPE,
    issuer_id,
    partner_authenticated,
    token_audiences,
    token_router,
)
from services.common.partners import Partner, add_partner, new_partner
from services.common.settings import Settings
from services.partner_client import client_assertion

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")

TOKEN_URL = "http://testserver/oauth/token"
"""Sharing's token endpoint as these tests configure it (the TestClient's own host)."""
INTAKE_URL = "https://intake.kmt.example"
REFUSED = {
    "type": "about:blank",
    "title": "Niet aangemeld",
    "status": 401,
    "detail": "Clientauthenticatie mislukt.",
    "error": "invalid_client",
    "error_description": "Clientauthenticatie mislukt.",
}
"""Problem details (RFC 9457) with RFC 6749's members, as every token refusal."""


class World:
    def __init__(self, root: Path) -> None:
        self.settings = Settings(
            data_dir=root / "data",
            keys_dir=root / "keys",
            partners_file=root / "partners.json",
            sharing_public_url="http://testserver",
            intake_public_url=INTAKE_URL,
        )
        keys.generate_keys(self.settings.keys_dir)
        self.ed_key = OKPKey.generate_key("Ed25519")
        self.ec_key = ECKey.generate_key("P-256")
        for partner_id, key in (("riec-on", self.ed_key), ("politie-on", self.ec_key)):
            add_partner(
                self.settings.partners_file,
                new_partner(
                    id=partner_id,
                    name=partner_id,
                    kind="riec" if partner_id == "riec-on" else "politie",
                    encryption_key=dict(ECKey.generate_key("P-256").as_dict(private=False)),
                    auth_key=dict(key.as_dict(private=False)),
                ),
            )
        self.client = TestClient(self.app("sharing"))

    def app(self, service: str) -> FastAPI:
        app = FastAPI()
        install_error_handlers(app)
        app.include_router(token_router(service, self.settings))
        as_partner = partner_authenticated(service, self.settings)

        @app.get("/whoami")
        def whoami(partner: Annotated[Partner, Depends(as_partner)]) -> dict[str, str]:
            return {"id": partner.id}

        return app

    def request_token(self, assertion: str, **extra: str) -> Any:
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        }
        return self.client.post("/oauth/token", data=form | extra)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def signed(key: OKPKey | ECKey, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": "riec-on",
        "sub": "riec-on",
        "aud": TOKEN_URL,
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
    } | overrides
    alg = "EdDSA" if isinstance(key, OKPKey) else "ES256"
    present = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": alg}, present, key, algorithms=[alg])


def test_valid_assertion_gets_a_token_that_authenticates(world: World) -> None:
    response = world.request_token(client_assertion("riec-on", world.ed_key, TOKEN_URL))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert response.headers["cache-control"] == "no-store"
    whoami = world.client.get(
        "/whoami", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert whoami.json() == {"id": "riec-on"}


def test_p256_auth_key_and_issuer_id_audience_work(world: World) -> None:
    assertion = client_assertion("politie-on", world.ec_key, issuer_id("sharing"))
    assert world.request_token(assertion).status_code == 200


def test_only_the_configured_audience_counts_whatever_the_host_header_says(
    world: World,
) -> None:
    intake = TestClient(world.app("intake"))

    def token_at_intake(aud: str, host: str) -> Any:
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed(world.ed_key, aud=aud),
        }
        return intake.post("/oauth/token", data=form, headers={"Host": host})

    # made for sharing's token endpoint, presented to intake with the Host spoofed to match
    for host in ("testserver", "intake.kmt.example"):
        refused = token_at_intake(TOKEN_URL, host)
        assert (refused.status_code, refused.json()) == (401, REFUSED)
        assert refused.headers["content-type"] == "application/problem+json"
    # a Host of the caller's choosing does not make its own URL an audience either
    spoofed = token_at_intake("http://elders.example/oauth/token", "elders.example")
    assert (spoofed.status_code, spoofed.json()) == (401, REFUSED)
    # intake's configured token endpoint works, whatever Host the proxy passes on
    for host in ("testserver", "10.0.0.5:8001"):
        assert token_at_intake(f"{INTAKE_URL}/oauth/token", host).status_code == 200


def test_default_audience_is_the_loopback_address_of_the_service_port(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, intake_port=9101, sharing_port=9102)
    assert token_audiences("intake", settings) == [
        "http://127.0.0.1:9101/oauth/token",
        "urn:kmt:intake",
    ]
    assert token_audiences(
        "sharing", settings.model_copy(update={"sharing_public_url": "https://a.example:8442/"})
    ) == [
        "https://a.example:8442/oauth/token",
        "urn:kmt:sharing",
    ]


def test_replayed_assertion_is_refused_also_after_a_restart(world: World) -> None:
    assertion = signed(world.ed_key)
    assert world.request_token(assertion).status_code == 200
    replay = world.request_token(assertion)
    assert (replay.status_code, replay.json()) == (401, REFUSED)
    world.client = TestClient(world.app("sharing"))
    assert world.request_token(assertion).status_code == 401


@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "too_long",
        "wrong_key",
        "wrong_aud",
        "other_service_aud",
        "unknown_partner",
        "sub_differs",
        "no_jti",
        "no_exp",
        "client_id_differs",
        "alg_none",
    ],
)
def test_bad_assertions_are_refused_alike(world: World, case: str) -> None:
    now = int(time.time())
    extra: dict[str, str] = {}
    assertion = {
        "expired": lambda: signed(world.ed_key, iat=now - 600, exp=now - 60),
        "too_long": lambda: signed(world.ed_key, exp=now + 3600),
        "wrong_key": lambda: signed(OKPKey.generate_key("Ed25519")),
        "wrong_aud": lambda: signed(world.ed_key, aud="https://elders.example/oauth/token"),
        "other_service_aud": lambda: signed(world.ed_key, aud=issuer_id("intake")),
        "unknown_partner": lambda: signed(world.ed_key, iss="nobody", sub="nobody"),
        "sub_differs": lambda: signed(world.ed_key, sub="politie-on"),
        "no_jti": lambda: signed(world.ed_key, jti=None),
        "no_exp": lambda: signed(world.ed_key, exp=None),
        "client_id_differs": lambda: signed(world.ed_key),
        "alg_none": lambda: unsigned_assertion(now),
    }[case]()
    if case == "client_id_differs":
        extra["client_id"] = "politie-on"
    response = world.request_token(assertion, **extra)
    assert (response.status_code, response.json()) == (401, REFUSED)


def unsigned_assertion(now: int) -> str:
    import base64
    import json

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {"iss": "riec-on", "sub": "riec-on", "aud": TOKEN_URL, "exp": now + 60, "jti": "x"}
    return f"{part({'alg': 'none'})}.{part(claims)}."


def test_malformed_requests_get_oauth_errors(world: World) -> None:
    missing = world.client.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")
    as_json = world.client.post("/oauth/token", json={"grant_type": "client_credentials"})
    assert as_json.status_code == 400
    grant = world.request_token("x", grant_type="password")
    assert (grant.status_code, grant.json()["error"]) == (400, "unsupported_grant_type")
    kind = world.request_token(signed(world.ed_key), client_assertion_type="urn:x")
    assert (kind.status_code, kind.json()) == (401, REFUSED)
    twice = world.client.post(
        "/oauth/token",
        content="grant_type=client_credentials&grant_type=client_credentials",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert twice.status_code == 400


@settings(max_examples=60, deadline=None)
@given(
    garbage=st.text(max_size=300)
    | st.from_regex(r"\A[A-Za-z0-9_-]{0,40}(\.[A-Za-z0-9_-]{0,80}){2,4}\Z")
)
def test_garbage_assertions_never_cause_a_500(
    tmp_path_factory: pytest.TempPathFactory, garbage: str
) -> None:
    world = _shared_world(tmp_path_factory)
    response = world.request_token(garbage)
    assert response.status_code in (400, 401)
    assert "error" in response.json()


_WORLDS: dict[str, World] = {}


def _shared_world(factory: pytest.TempPathFactory) -> World:
    if "w" not in _WORLDS:
        _WORLDS["w"] = World(factory.mktemp("fuzz"))
    return _WORLDS["w"]


def access_token(world: World, **overrides: Any) -> str:
    key = keys.load_token_key(world.settings.keys_dir, "sharing")
    now = int(time.time())
    claims = {"iss": "urn:kmt", "sub": "riec-on", "aud": "sharing", "iat": now, "exp": now + 60}
    header = {"alg": "EdDSA", "kid": str(key.kid), "typ": "at+jwt"}
    return jwt.encode(header, claims | overrides, key, algorithms=["EdDSA"])


@pytest.mark.parametrize(
    "token",
    [
        None,
        "niet-een-token",
        "expired",
        "other_service",
        "other_issuer",
        "removed_partner",
        "forged",
        "after_key_rotation",
    ],
)
def test_bad_bearer_tokens_get_401(world: World, token: str | None) -> None:
    now = int(time.time())
    if token == "expired":
        token = access_token(world, iat=now - 900, exp=now - 300)
    elif token == "other_service":
        token = access_token(world, aud="intake")
    elif token == "other_issuer":
        token = access_token(world, iss="urn:elders")
    elif token == "removed_partner":
        token = access_token(world, sub="nobody")
    elif token == "forged":
        token = jwt.encode(
            {"alg": "EdDSA", "typ": "at+jwt"},
            {"iss": "urn:kmt", "sub": "riec-on", "aud": "sharing", "exp": now + 60},
            keys.new_ed25519_key(),
            algorithms=["EdDSA"],
        )
    elif token == "after_key_rotation":
        token = access_token(world)
        keys.generate_token_key(world.settings.keys_dir, "sharing")
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    response = world.client.get("/whoami", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "riec" not in response.text


def test_token_of_one_service_does_not_open_another(world: World) -> None:
    token = world.request_token(signed(world.ed_key)).json()["access_token"]
    intake = TestClient(world.app("intake"))
    assert intake.get("/whoami", headers={"Authorization": f"Bearer {token}"}).status_code == 401
