"""Console sessions: a random id in a signed cookie, everything else on the server.

The cookie (`kmt_console`) is HttpOnly, SameSite=Strict, Secure when the console is behind
TLS (`KMT_CONSOLE_SECURE_COOKIE`), and holds only the session id with an HMAC under the
console's own secret (`<keys_dir>/console/session.json`). The staff token a person logged in
with stays in the server's memory and is never sent to the browser. A session ends after
`KMT_CONSOLE_IDLE_MINUTES` without a request, on logout, and as soon as its staff token ends
(expired, renewed, revoked: `person()` checks the registry on every request).

Every session, also before login, has a CSRF token; every form carries it and every POST is
refused without it (`require_csrf`). Logging in gives a new session id (no fixation).

The session's dict is `request.session` (`scope["session"]`), as Starlette's own, so Authlib's
OpenID Connect client keeps its state and nonce here too.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.keys import load_or_create_secret

COOKIE = "kmt_console"
ROTATE = "kmt.rotate_session"
UNTOUCHED = "kmt.leave_cookie"
"""Set in a request's scope: answer without a session cookie (the OpenID Connect callback's
reload page, whose request came without one and must not replace the one the browser has)."""
SECRET_FILE = Path("console") / "session.json"
SESSIONLESS = ("/health", "/ready", "/metrics", "/static/", "/assets/")
"""Probes and static files: no session is made or touched for them."""


def session_secret(keys_dir: Path) -> bytes:
    """The console's one secret of its own: the key of its session cookies' HMAC."""
    return load_or_create_secret(keys_dir / SECRET_FILE, "session")


def generate_session_secret(keys_dir: Path) -> list[str]:
    if (keys_dir / SECRET_FILE).exists():
        return []
    session_secret(keys_dir)
    return [str(SECRET_FILE)]


@dataclass
class Held:
    data: dict[str, Any]
    seen: float


class SessionStore:
    """The sessions of one console process, in memory (a restart logs everyone out)."""

    def __init__(self, secret: bytes, idle_seconds: float) -> None:
        self._secret = secret
        self._idle = idle_seconds
        self._held: dict[str, Held] = {}
        self._lock = threading.Lock()

    def cookie_value(self, session_id: str) -> str:
        mac = hmac.new(self._secret, session_id.encode(), hashlib.sha256).hexdigest()
        return f"{session_id}.{mac}"

    def session_id(self, cookie: str | None) -> str | None:
        """The session id of a well-signed cookie; None otherwise."""
        if not cookie or "." not in cookie:
            return None
        session_id = cookie.partition(".")[0]
        if not hmac.compare_digest(self.cookie_value(session_id), cookie):
            return None
        return session_id

    def load(self, session_id: str | None) -> dict[str, Any] | None:
        if session_id is None:
            return None
        now = time.monotonic()
        with self._lock:
            held = self._held.get(session_id)
            if held is None:
                return None
            if now - held.seen > self._idle:
                del self._held[session_id]
                return None
            held.seen = now
            return held.data

    def save(self, session_id: str, data: dict[str, Any]) -> None:
        with self._lock:
            self._held[session_id] = Held(data, time.monotonic())
            self._expire()

    def drop(self, session_id: str | None) -> None:
        with self._lock:
            self._held.pop(session_id or "", None)

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, h in self._held.items() if now - h.seen > self._idle]:
            del self._held[key]


class SessionMiddleware:
    """Puts the session's dict in `scope["session"]` and sets or clears the cookie."""

    def __init__(self, app: ASGIApp, store: SessionStore, secure: bool) -> None:
        self.app = app
        self.store = store
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(SESSIONLESS):
            await self.app(scope, receive, send)
            return
        cookies = SimpleCookie(_header(scope, b"cookie"))
        morsel = cookies.get(COOKIE)
        old_id = self.store.session_id(morsel.value if morsel else None)
        found = self.store.load(old_id)
        data: dict[str, Any] = found if found is not None else {}
        data.setdefault("csrf", secrets.token_urlsafe(32))
        scope["session"] = data

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and not scope.get(UNTOUCHED):
                headers = MutableHeaders(scope=message)
                session_id = old_id if found is not None else None
                if scope.get(ROTATE) or session_id is None:
                    self.store.drop(old_id)
                    session_id = secrets.token_urlsafe(32)
                if data.get("ended"):
                    self.store.drop(session_id)
                    headers.append("Set-Cookie", self._cookie("", max_age=0))
                else:
                    self.store.save(session_id, data)
                    headers.append("Set-Cookie", self._cookie(self.store.cookie_value(session_id)))
                headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _cookie(self, value: str, max_age: int | None = None) -> str:
        parts = [f"{COOKIE}={value}", "Path=/", "HttpOnly", "SameSite=Strict"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def csrf_token(request: Request) -> str:
    return str(request.session["csrf"])


async def require_csrf(request: Request) -> None:
    """A FastAPI dependency for every POST: the form's `csrf` must be the session's."""
    form = await request.form()
    sent = form.get("csrf")
    if not isinstance(sent, str) or not hmac.compare_digest(sent, csrf_token(request)):
        raise HTTPException(
            403,
            "Het formulier is verlopen of komt niet van deze console; "
            "laad de pagina opnieuw en probeer het nog eens.",
        )


def start(request: Request, staff_id: str, role: str, token: str) -> None:
    """Log a person in: a new session id, a new CSRF token, the staff token held here."""
    request.session.clear()
    request.session.update(
        staff_id=staff_id, role=role, token=token, csrf=secrets.token_urlsafe(32)
    )
    request.scope[ROTATE] = True


def end(request: Request) -> None:
    request.session.clear()
    request.session["ended"] = True
