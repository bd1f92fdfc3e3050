"""Rendering the console's pages: Jinja2 templates (autoescaped) around one base layout."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from services.common.dutch_dates import DUTCH_TIME
from services.console.people import HOME, MENU, Person
from services.console.sessions import csrf_token

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.autoescape = True  # every template: select_autoescape would skip `.html.j2`


def when(value: str | None) -> str:
    """An RFC 3339 moment as Dutch people read it: its date and time in Europe/Amsterdam."""
    if not value:
        return "—"
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.astimezone(DUTCH_TIME).strftime("%d-%m-%Y %H:%M:%S")


templates.env.filters["when"] = when


def page(
    request: Request,
    template: str,
    title: str,
    who: Person | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        template,
        {
            "title": title,
            "who": who,
            "menu": MENU.get(who.role, []) if who else [],
            "home": HOME.get(who.role, "/") if who else "/aanmelden",
            "current": request.url.path,
            "csrf": csrf_token(request),
            **context,
        },
        status_code=status,
    )
