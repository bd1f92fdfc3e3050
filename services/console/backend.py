"""Calls to the other services' staff APIs, always with the logged-in person's own token.

The console holds no authority of its own: audit, sharing and the operator API check the
person's role and record each read as that person. A refusal comes back as `Refused` with the
service's Dutch reason (problem details), for the page to show; an unreachable service as a
Dutch 503.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request

from services.common.settings import Settings
from services.console.people import NotLoggedIn, Person

TIMEOUT = httpx.Timeout(30.0, connect=5.0)
logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines quote each URL
SERVICE_NAMES = {"audit": "audit", "sharing": "sharing", "operator": "de operator-API"}


class Refused(Exception):
    """The service said no: its status and Dutch reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class StaffApi:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = httpx.AsyncClient(timeout=TIMEOUT)

    async def call(
        self, who: Person, service: str, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        url = f"{self.settings.staff_api(service)}{path}"
        headers = {"Authorization": f"Bearer {who.token}"}
        try:
            response = await self.client.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError:
            raise Refused(503, f"{SERVICE_NAMES[service]} is nu niet bereikbaar") from None
        if response.status_code == 401:
            raise NotLoggedIn
        if response.status_code >= 400:
            raise Refused(response.status_code, _reason(response))
        return response

    async def json(self, who: Person, service: str, method: str, path: str, **kwargs: Any) -> Any:
        return (await self.call(who, service, method, path, **kwargs)).json()

    async def close(self) -> None:
        await self.client.aclose()


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"geweigerd ({response.status_code})"
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            return "; ".join(str(e.get("message", e)) for e in errors if isinstance(e, dict))
        return str(body.get("detail") or body.get("title") or response.status_code)
    return f"geweigerd ({response.status_code})"


def staff_api(request: Request) -> StaffApi:
    found: StaffApi = request.app.state.api
    return found


Api = Annotated[StaffApi, Depends(staff_api)]
