"""Login through the organisation's OpenID Connect provider (Authlib; authorization code with
PKCE, state and nonce), when `KMT_CONSOLE_OIDC_ISSUER` is set.

The provider says who someone is (the claim `KMT_CONSOLE_OIDC_CLAIM`); what they may do is the
staff registry's: only a registered member logs in, with the registry's role. The console then
issues that member a fresh staff token (`issue_token`, which ends the member's earlier one)
and holds it for the session, so the services audit each read as that person, as with a token
typed in. So in this mode the console writes the staff registry.

The session cookie is SameSite=Strict, so the browser does not send it on the provider's
cross-site redirect back; the callback then answers with a page that reloads itself from
this site, and the second request carries the cookie (and with it the state and nonce).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.common.settings import Settings
from services.common.staff import issue_token, load_staff
from services.console.people import HOME
from services.console.render import page
from services.console.sessions import COOKIE, UNTOUCHED, start

SECRET_FILE = "oidc.json"
AGAIN = "opnieuw"


def register(app: FastAPI, settings: Settings) -> Any | None:
    """Add `/aanmelden/oidc` and its callback; None when no provider is configured."""
    if not settings.console_oidc_issuer:
        return None
    from authlib.integrations.starlette_client import OAuth, OAuthError

    secret_file = settings.keys_dir / "console" / SECRET_FILE
    secret = json.loads(secret_file.read_text())["client_secret"]
    oauth = OAuth()
    issuer = settings.console_oidc_issuer.rstrip("/")
    client = oauth.register(
        "organisation",
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_id=settings.console_oidc_client_id,
        client_secret=secret,
        client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
    )

    def refused(request: Request, status: int, message: str) -> Response:
        return page(
            request, "login.html.j2", "Aanmelden", None, status=status, error=message, oidc=True
        )

    @app.get("/aanmelden/oidc", include_in_schema=False)
    async def begin(request: Request) -> Response:
        callback = str(request.url_for("oidc_callback"))
        answer: Response = await client.authorize_redirect(request, callback)
        return answer

    @app.get("/aanmelden/oidc/terug", name="oidc_callback", include_in_schema=False)
    async def callback(request: Request) -> Response:
        if COOKIE not in request.cookies:
            if AGAIN in request.query_params:
                return refused(request, 400, "Uw browser stuurt het sessiecookie niet mee.")
            request.scope[UNTOUCHED] = True  # the browser keeps the cookie it has
            again = f"{request.url.path}?{request.url.query}&{AGAIN}=1"
            return HTMLResponse(
                f'<!DOCTYPE html><html lang="nl"><head><meta http-equiv="refresh" '
                f'content="0;url={_attribute(again)}"><title>Aanmelden</title></head>'
                "<body><p>Even geduld…</p></body></html>"
            )
        try:
            token = await client.authorize_access_token(request)
        except OAuthError:
            return refused(request, 401, "Aanmelden bij uw organisatie is niet gelukt.")
        claims = token.get("userinfo") or {}
        staff_id = claims.get(settings.console_oidc_claim)
        member = next((m for m in load_staff(settings.staff_file) if m.id == staff_id), None)
        if member is None:
            return refused(
                request, 403, "U staat niet in het medewerkersregister van KMT (kmt staff add)."
            )
        ttl = timedelta(minutes=settings.staff_token_ttl_minutes)
        staff_token = issue_token(member.id, settings.staff_file, ttl)
        start(request, member.id, member.role, staff_token)
        return RedirectResponse(HOME[member.role], 303)

    return client


def _attribute(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
