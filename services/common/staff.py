"""KMT staff who use the HTTP APIs: privacy officers, operators and KMT workers.

The registry is a small JSON file (the app's `app.state.staff_file`, else `KMT_STAFF_FILE`,
default `.cache/staff.json`; 0600)
holding per member an id, a role, and the SHA-256 and expiry of their one current bearer
token. The token itself is shown once, when it is issued, and stored nowhere. A token ends
at its expiry (`KMT_STAFF_TOKEN_TTL_MINUTES`), when a new one is issued for the member, or
when it is revoked (`kmt staff revoke`); every check reads the registry, so that is at once.

`require_role(*roles)` is a FastAPI dependency that returns the authenticated staff id.
A missing or unknown token gets 401 and a known token with another role 403; neither says
which ids or roles exist.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from services.common.openapi import STAFF_SCHEME
from services.common.settings import get_settings

Role = Literal["privacy_officer", "operator", "kmt_worker"]
ROLES: tuple[Role, ...] = ("privacy_officer", "operator", "kmt_worker")


class StaffMember(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    role: Role
    token_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    """None: no valid token (revoked); the member stays known, e.g. for the trail."""
    token_expires_at: datetime | None = None


def staff_file() -> Path:
    return get_settings().staff_file


def load_staff(path: Path | None = None) -> list[StaffMember]:
    path = path or staff_file()
    if not path.exists():
        return []
    return [StaffMember.model_validate(m) for m in json.loads(path.read_text())["members"]]


def add_member(
    staff_id: str, role: Role, path: Path | None = None, ttl: timedelta | None = None
) -> str:
    """Add a member, or give one a new role and token; returns the bearer token, the only
    time it exists. Any earlier token of the member ends."""
    path = path or staff_file()
    token = secrets.token_urlsafe(32)
    lifetime = ttl or timedelta(minutes=get_settings().staff_token_ttl_minutes)
    member = StaffMember(
        id=staff_id,
        role=role,
        token_sha256=_digest(token),
        token_expires_at=datetime.now(UTC) + lifetime,
    )
    others = [m for m in load_staff(path) if m.id != staff_id]
    _write(path, [*others, member])
    return token


def issue_token(staff_id: str, path: Path | None = None, ttl: timedelta | None = None) -> str:
    """A new token for a known member (the old one ends); KeyError when there is no such id."""
    path = path or staff_file()
    member = next((m for m in load_staff(path) if m.id == staff_id), None)
    if member is None:
        raise KeyError(staff_id)
    return add_member(staff_id, member.role, path, ttl)


def revoke_token(staff_id: str, path: Path | None = None) -> bool:
    """End the member's token now; False when there is no such member."""
    path = path or staff_file()
    members = load_staff(path)
    if not any(m.id == staff_id for m in members):
        return False
    _write(
        path,
        [
            m.model_copy(update={"token_sha256": None, "token_expires_at": None})
            if m.id == staff_id
            else m
            for m in members
        ],
    )
    return True


def remove_member(staff_id: str, path: Path | None = None) -> bool:
    path = path or staff_file()
    members = load_staff(path)
    remaining = [m for m in members if m.id != staff_id]
    _write(path, remaining)
    return len(remaining) < len(members)


def authenticate(
    token: str, path: Path | None = None, now: datetime | None = None
) -> StaffMember | None:
    """The member whose current, unexpired token this is; None otherwise."""
    digest = _digest(token)
    moment = now or datetime.now(UTC)
    for member in load_staff(path):
        if member.token_sha256 is None or member.token_expires_at is None:
            continue
        if secrets.compare_digest(member.token_sha256, digest):
            return member if moment < member.token_expires_at else None
    return None


_bearer = HTTPBearer(
    auto_error=False, scheme_name=STAFF_SCHEME, description="Token van een KMT-medewerker."
)
_UNAUTHENTICATED = HTTPException(
    status.HTTP_401_UNAUTHORIZED,
    "Niet aangemeld: stuur een geldig token mee als 'Authorization: Bearer <token>'.",
    headers={"WWW-Authenticate": "Bearer"},
)
_FORBIDDEN = HTTPException(status.HTTP_403_FORBIDDEN, "Geen toegang met deze rol.")


def require_role(*roles: Role) -> Callable[..., str]:
    """A FastAPI dependency: the id of the authenticated member, who must have one of `roles`."""
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"onbekende rollen: {sorted(unknown)}")

    def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> str:
        if credentials is None:
            raise _UNAUTHENTICATED
        member = authenticate(
            credentials.credentials, getattr(request.app.state, "staff_file", None)
        )
        if member is None:
            raise _UNAUTHENTICATED
        if member.role not in roles:
            raise _FORBIDDEN
        return member.id

    return dependency


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _write(path: Path, members: list[StaffMember]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"members": [m.model_dump(mode="json") for m in members]}, handle, indent=2)
    os.replace(temporary, path)
