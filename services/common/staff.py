"""KMT staff who use the HTTP APIs: privacy officers, operators and KMT workers.

The registry is a small JSON file (the app's `app.state.staff_file`, else `KMT_STAFF_FILE`,
default `.cache/staff.json`; 0600)
holding per member an id, a role and the SHA-256 of a random bearer token. The token itself
is shown once, when the member is added, and stored nowhere.

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
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from services.common.settings import get_settings

Role = Literal["privacy_officer", "operator", "kmt_worker"]
ROLES: tuple[Role, ...] = ("privacy_officer", "operator", "kmt_worker")


class StaffMember(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    role: Role
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


def staff_file() -> Path:
    return get_settings().staff_file


def load_staff(path: Path | None = None) -> list[StaffMember]:
    path = path or staff_file()
    if not path.exists():
        return []
    return [StaffMember.model_validate(m) for m in json.loads(path.read_text())["members"]]


def add_member(staff_id: str, role: Role, path: Path | None = None) -> str:
    """Add (or give a new token to) a member; returns the bearer token, the only time it exists."""
    path = path or staff_file()
    token = secrets.token_urlsafe(32)
    member = StaffMember(id=staff_id, role=role, token_sha256=_digest(token))
    others = [m for m in load_staff(path) if m.id != staff_id]
    _write(path, [*others, member])
    return token


def remove_member(staff_id: str, path: Path | None = None) -> bool:
    path = path or staff_file()
    members = load_staff(path)
    remaining = [m for m in members if m.id != staff_id]
    _write(path, remaining)
    return len(remaining) < len(members)


def authenticate(token: str, path: Path | None = None) -> StaffMember | None:
    digest = _digest(token)
    for member in load_staff(path):
        if secrets.compare_digest(member.token_sha256, digest):
            return member
    return None


_bearer = HTTPBearer(auto_error=False)
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
        json.dump({"members": [m.model_dump() for m in members]}, handle, indent=2)
    os.replace(temporary, path)
