"""The web console: server-rendered pages in Dutch for privacy officers, KMT workers and
operators, on the NL Design System's components (`@utrecht/component-library-css`) and design
tokens (`@utrecht/design-tokens`), installed by provisioning and served as static files.

It is not on the event path: each page calls another service's staff API with the
logged-in person's own token (`backend.py`), so that service checks the role and records the
read as that person.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.problems import title
from services.common.settings import Settings
from services.common.staff import authenticate
from services.console import oidc
from services.console.backend import Refused, StaffApi
from services.console.figures import router as figures_router
from services.console.officer import router as officer_router
from services.console.operator import router as operator_router
from services.console.people import HOME, NotLoggedIn, WrongRole, person
from services.console.render import page
from services.console.sessions import (
    SessionMiddleware,
    SessionStore,
    end,
    require_csrf,
    session_secret,
    start,
)
from services.console.worker import router as worker_router
from services.observability import health as probes

STATIC = Path(__file__).parent / "static"
ASSETS = {
    "component-library": "@utrecht/component-library-css/dist",
    "design-tokens": "@utrecht/design-tokens/dist",
    "htmx": "htmx.org/dist",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def create_app(settings: Settings) -> FastAPI:
    api = StaffApi(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await api.close()

    app = FastAPI(title="KMT-console", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.openapi_url = None
    app.state.staff_file = settings.staff_file
    app.state.api = api
    app.state.settings = settings
    store = SessionStore(session_secret(settings.keys_dir), settings.console_idle_minutes * 60)
    app.add_middleware(SessionMiddleware, store=store, secure=settings.console_secure_cookie)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: object) -> Response:
        response: Response = await call_next(request)  # type: ignore[operator]
        response.headers.update(SECURITY_HEADERS)
        return response

    probes.observe(
        app,
        settings,
        "console",
        {
            "audit": probes.http(f"{settings.staff_api('audit')}/health"),
            "sharing": probes.http(f"{settings.staff_api('sharing')}/health"),
        },
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for name, folder in ASSETS.items():
        directory = settings.console_assets_dir / folder
        app.mount(f"/assets/{name}", StaticFiles(directory=directory, check_dir=False), name=name)

    install_handlers(app)
    oidc_client = oidc.register(app, settings)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", include_in_schema=False)
    async def home(request: Request) -> Response:
        found = person(request, settings.staff_file)
        return RedirectResponse(HOME[found.role] if found else "/aanmelden", 303)

    @app.get("/aanmelden", response_class=HTMLResponse)
    async def login_form(request: Request) -> Response:
        return page(request, "login.html.j2", "Aanmelden", None, oidc=oidc_client is not None)

    @app.post("/aanmelden", dependencies=[Depends(require_csrf)])
    async def login(request: Request, token: Annotated[str, Form(max_length=200)]) -> Response:
        member = authenticate(token.strip(), settings.staff_file)
        if member is None:
            return page(
                request,
                "login.html.j2",
                "Aanmelden",
                None,
                status=401,
                error="Dit token is onbekend, verlopen of ingetrokken. Vraag een nieuw aan "
                "(kmt staff token UW-ID).",
                oidc=oidc_client is not None,
            )
        start(request, member.id, member.role, token.strip())
        return RedirectResponse(HOME[member.role], 303)

    @app.post("/afmelden", dependencies=[Depends(require_csrf)])
    async def logout(request: Request) -> Response:
        end(request)
        return RedirectResponse("/aanmelden", 303)

    app.include_router(officer_router)
    app.include_router(figures_router)
    app.include_router(worker_router)
    app.include_router(operator_router)
    return app


def install_handlers(app: FastAPI) -> None:
    """Errors as Dutch pages in the console's layout, never a stack trace."""

    def error_page(request: Request, status: int, message: str) -> Response:
        who = person(request, app.state.staff_file)
        return page(request, "error.html.j2", title(status), who, status=status, message=message)

    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(request: Request, _: NotLoggedIn) -> Response:
        if request.headers.get("HX-Request"):
            return Response(status_code=204, headers={"HX-Redirect": "/aanmelden"})
        return RedirectResponse("/aanmelden", 303)

    @app.exception_handler(WrongRole)
    async def wrong_role(request: Request, _: WrongRole) -> Response:
        return error_page(
            request,
            403,
            "U hebt met uw rol geen toegang tot deze pagina. Kies een pagina uit "
            "het menu, of meld u aan met een account dat deze rol heeft.",
        )

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        return error_page(request, exc.status, exc.reason)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = (
            exc.detail
            if exc.status_code not in (404, 405)
            else ("Deze pagina bestaat niet." if exc.status_code == 404 else "Dat kan hier niet.")
        )
        return error_page(request, exc.status_code, str(message))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        fields = ", ".join(str(e["loc"][-1]) for e in exc.errors())
        return error_page(request, 422, f"Controleer wat u invulde: {fields}.")
