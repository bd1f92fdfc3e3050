"""Who is logged in, and which pages each role may see.

A person logs in with their own staff credential (`kmt staff token ID`, or through the
organisation's OpenID Connect provider, `oidc.py`); the console checks it against the staff
registry and keeps it for the session. Every call to another service carries that token, so
the services check the role again and record every read as that person. A page of another
role answers 403 in Dutch; without a session the browser goes to the login page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request

from services.common.staff import Role, authenticate

ROLE_NAMES: dict[str, str] = {
    "privacy_officer": "privacy officer",
    "kmt_worker": "KMT-medewerker",
    "operator": "functioneel beheerder (operator)",
}
HOME: dict[str, str] = {
    "privacy_officer": "/trail",
    "kmt_worker": "/werkvoorraad",
    "operator": "/beleid",
}
MENU: dict[str, list[tuple[str, str]]] = {
    "privacy_officer": [
        ("/trail", "Audittrail"),
        ("/grootboek", "Grootboek"),
        ("/inzage", "Inzageverzoek"),
        ("/cijfers", "Cijfers"),
    ],
    "kmt_worker": [("/werkvoorraad", "Beoordelen")],
    "operator": [("/beleid", "Beleidsversies")],
}


@dataclass(frozen=True)
class Person:
    staff_id: str
    role: Role
    token: str

    @property
    def role_name(self) -> str:
        return ROLE_NAMES[self.role]


class NotLoggedIn(Exception):
    """No session, or its staff token ended: to the login page."""


class WrongRole(Exception):
    """A page this person's role may not see: 403 in Dutch."""


def person(request: Request, staff_file: Path) -> Person | None:
    """The logged-in person, while their staff token is still the registry's current one."""
    token = request.session.get("token")
    if not isinstance(token, str):
        return None
    member = authenticate(token, staff_file)
    if member is None or member.id != request.session.get("staff_id"):
        request.session.clear()
        return None
    return Person(member.id, member.role, token)


def role_required(*roles: Role) -> Callable[[Request], Person]:
    """A FastAPI dependency: the logged-in person, who must have one of `roles`."""

    def dependency(request: Request) -> Person:
        found = person(request, request.app.state.staff_file)
        if found is None:
            raise NotLoggedIn
        if found.role not in roles:
            raise WrongRole
        return found

    return dependency
