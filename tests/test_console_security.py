"""The console's own defences, tried as an attacker would, without the rest of the stack:
forged or stolen cookies, forms from elsewhere (CSRF), another role's pages, an ended staff
token, session fixation, an idle session. The staff token never reaches the browser."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.common.settings import Settings
from services.common.staff import add_member, revoke_token
from services.console.app import create_app
from services.console.sessions import COOKIE, SessionStore

ROLES = ("privacy_officer", "kmt_worker", "operator")
FORBIDDEN = {
    "privacy_officer": ["/werkvoorraad", "/beleid"],
    "kmt_worker": ["/trail", "/grootboek", "/inzage", "/cijfers", "/beleid"],
    "operator": ["/trail", "/grootboek", "/cijfers", "/werkvoorraad"],
}


@pytest.fixture
def site(tmp_path: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        keys_dir=tmp_path / "keys",
        staff_file=tmp_path / "staff.json",
        console_assets_dir=tmp_path / "assets",
        console_audit_url="http://127.0.0.1:9",  # nothing listens: no page here needs it
        console_sharing_url="http://127.0.0.1:9",
        console_operator_url="http://127.0.0.1:9",
    )


@pytest.fixture
def tokens(site: Settings) -> dict[str, str]:
    return {role: add_member(role.replace("_", "-"), role, site.staff_file) for role in ROLES}


@pytest.fixture
def client(site: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(site), follow_redirects=False) as client:
        yield client


def csrf(client: TestClient, path: str = "/aanmelden") -> str:
    page = client.get(path).text
    return page.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def logged_in(client: TestClient, token: str) -> TestClient:
    answer = client.post("/aanmelden", data={"token": token, "csrf": csrf(client)})
    assert answer.status_code == 303, answer.text
    return client


def test_login_gives_a_strict_httponly_cookie_and_never_the_token(
    client: TestClient, tokens: dict[str, str]
) -> None:
    before = client.get("/aanmelden").cookies.get(COOKIE)
    answer = client.post(
        "/aanmelden", data={"token": tokens["privacy_officer"], "csrf": csrf(client)}
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/trail"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    assert tokens["privacy_officer"] not in cookie
    assert client.cookies.get(COOKIE) != before  # a new session id at login: no fixation
    assert answer.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_behind_tls_the_cookie_is_secure(site: Settings, tokens: dict[str, str]) -> None:
    secure = site.model_copy(update={"console_secure_cookie": True})
    with TestClient(create_app(secure), follow_redirects=False) as client:
        assert "; Secure" in client.get("/aanmelden").headers["set-cookie"]


def test_an_unknown_or_ended_token_does_not_log_in(
    client: TestClient, tokens: dict[str, str], site: Settings
) -> None:
    refused = client.post("/aanmelden", data={"token": "geraden", "csrf": csrf(client)})
    assert refused.status_code == 401 and "onbekend, verlopen of ingetrokken" in refused.text
    revoke_token("operator", site.staff_file)
    ended = client.post("/aanmelden", data={"token": tokens["operator"], "csrf": csrf(client)})
    assert ended.status_code == 401
    assert client.get("/beleid").headers["location"] == "/aanmelden"


def test_every_form_needs_the_sessions_csrf_token(
    client: TestClient, tokens: dict[str, str]
) -> None:
    forged = client.post("/aanmelden", data={"token": tokens["privacy_officer"]})
    assert forged.status_code == 403 and "formulier" in forged.text
    other = client.post("/aanmelden", data={"token": tokens["privacy_officer"], "csrf": "x"})
    assert other.status_code == 403
    logged_in(client, tokens["privacy_officer"])
    for path in ("/afmelden", "/grootboek/controle", "/inzage"):
        assert client.post(path, data={"bsn": "111222333"}).status_code == 403, path
    assert client.get("/trail").status_code != 303  # still logged in: nothing was done


@pytest.mark.parametrize("role", ROLES)
def test_another_roles_page_is_a_dutch_403(
    client: TestClient, tokens: dict[str, str], role: str
) -> None:
    logged_in(client, tokens[role])
    for path in FORBIDDEN[role]:
        answer = client.get(path)
        assert answer.status_code == 403, path
        assert "geen toegang tot deze pagina" in answer.text and 'lang="nl"' in answer.text


def test_without_a_session_every_page_goes_to_login(client: TestClient) -> None:
    for path in ("/trail", "/werkvoorraad", "/beleid", "/cijfers", "/grootboek"):
        assert client.get(path).headers["location"] == "/aanmelden", path
    client.cookies.set(COOKIE, "gestolen.0000")  # a forged cookie is no session
    assert client.get("/trail").headers["location"] == "/aanmelden"


def test_a_revoked_token_ends_the_session_at_once(
    client: TestClient, tokens: dict[str, str], site: Settings
) -> None:
    logged_in(client, tokens["kmt_worker"])
    assert client.get("/trail").status_code == 403  # logged in, wrong role
    revoke_token("kmt-worker", site.staff_file)
    assert client.get("/trail").headers["location"] == "/aanmelden"


def test_logout_ends_the_session_on_the_server(client: TestClient, tokens: dict[str, str]) -> None:
    logged_in(client, tokens["operator"])
    stolen = client.cookies.get(COOKIE)
    answer = client.post("/afmelden", data={"csrf": csrf(client, "/aanmelden")})
    assert answer.status_code == 303 and "Max-Age=0" in answer.headers["set-cookie"]
    client.cookies.set(COOKIE, stolen or "")  # the old cookie, replayed
    assert client.get("/beleid").headers["location"] == "/aanmelden"


def test_an_idle_session_ends_and_a_tampered_cookie_is_refused() -> None:
    store = SessionStore(b"s" * 32, idle_seconds=0.2)
    store.save("abc", {"staff_id": "x"})
    assert store.load(store.session_id(store.cookie_value("abc"))) == {"staff_id": "x"}
    assert store.session_id(store.cookie_value("abc")[:-1] + "0") is None
    assert store.session_id("abc.") is None
    time.sleep(0.3)
    assert store.load("abc") is None


def test_what_is_typed_comes_back_escaped(client: TestClient, tokens: dict[str, str]) -> None:
    """A search field echoed into the page, and the error page, never run a script."""
    logged_in(client, tokens["privacy_officer"])
    attack = '"><script>alert(1)</script>'
    page = client.get("/trail", params={"grondslag": attack, "melding": attack})
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;" in page.text


def test_an_id_that_is_not_one_never_reaches_another_service(
    client: TestClient, tokens: dict[str, str]
) -> None:
    """Nothing listens at the services' addresses here: a 404 (not a 503) shows the console
    refused the id before calling sharing with it."""
    logged_in(client, tokens["kmt_worker"])
    form = {"oordeel": "approve", "reden": "x", "csrf": csrf(client)}
    for forged in ("a.b", "a..b", "x" * 81):
        answer = client.post(f"/werkvoorraad/{forged}", data=form)
        assert answer.status_code == 404, forged
    assert client.post("/werkvoorraad/abc", data=form).status_code == 503  # a real id: asked


def test_probes_and_static_files_make_no_session(client: TestClient) -> None:
    for path in ("/health", "/static/console.css"):
        answer = client.get(path)
        assert answer.status_code == 200 and "set-cookie" not in answer.headers, path
