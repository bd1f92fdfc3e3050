"""The console as people use it: a real headless Chromium (Debian's) against the real stack
(Kafka, OPA, the four services, the operator API, the console), axe-core on every page, the
main flows also by keyboard only. One deployment and one browser for the whole module."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from oidc_provider_mock import run_server_in_thread
from playwright.sync_api import Browser, BrowserContext, Page, expect

from services.common.settings import Settings
from services.common.staff import add_member
from services.devstack import demo
from services.devstack.paths import free_port
from services.devstack.process import stop
from services.devstack.staff_side import console_url, start_staff_side
from tests.console_browser import accessible, chromium, tab_to
from tests.stack import Stack, deployment, eventually

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


@dataclass
class Console:
    stack: Stack
    url: str
    browser: Browser

    def token(self, name: str) -> str:
        return (demo.demo_dir(self.stack.settings) / name).read_text().strip()

    def login(self, token_file: str, keyboard: bool = False) -> Page:
        """A fresh browser context (its own cookies) logged in as the demo person."""
        context: BrowserContext = self.browser.new_context(accept_downloads=True)
        page = context.new_page()
        page.goto(f"{self.url}/aanmelden")
        if keyboard:
            tab_to(page, "Medewerkerstoken")
            page.keyboard.type(self.token(token_file))
            page.keyboard.press("Enter")
        else:
            page.get_by_label("Medewerkerstoken").fill(self.token(token_file))
            page.get_by_role("button", name="Aanmelden").click()
        expect(page.get_by_text("Aangemeld als")).to_be_visible()
        return page


@pytest.fixture(scope="module")
def console(
    settings_factory: Callable[..., Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Console]:
    logs = tmp_path_factory.mktemp("logs")
    with run_server_in_thread() as provider:  # a real OpenID Connect provider, on `localhost`
        settings = settings_factory(
            console_port=free_port(),
            console_operator_url=f"http://127.0.0.1:{free_port()}",
            console_oidc_issuer=f"http://localhost:{provider.server_port}",
            console_oidc_claim="sub",
        )
        secret = settings.keys_dir / "console" / "oidc.json"
        secret.parent.mkdir(parents=True, exist_ok=True)
        secret.write_text(json.dumps({"client_secret": "console-test-secret"}))
        with deployment(settings, logs) as stack, chromium() as browser:
            add_member("oidc-officer", "privacy_officer", settings.staff_file)
            yield from staff_side(Console(stack, console_url(settings), browser), logs)


def staff_side(console: Console, logs: Path) -> Iterator[Console]:
    """The operator API and the console beside the running deployment, stopped after."""
    processes = start_staff_side(console.stack.settings, logs)
    try:
        yield console
    finally:
        for process in reversed(processes):
            stop(process)


def submitted(console: Console, example: str) -> str:
    melding = json.loads((EXAMPLES / example).read_text())
    return console.stack.submit(melding)


def test_privacy_officer_finds_the_trail_verifies_and_downloads_an_inzage_report(
    console: Console,
) -> None:
    melding_id = submitted(console, "melding.json")
    eventually(lambda: any(e["type"] == "release" for e in console.stack.audit_entries(melding_id)))
    page = console.login("privacy-officer.token")
    accessible(page, "trail-zoeken")
    page.get_by_label("Melding-id").fill(melding_id)
    page.get_by_role("button", name="Zoeken").click()
    accessible(page, "trail-gevonden")
    page.get_by_label("Besluit").select_option("nee")  # audit searches, across all entries
    page.get_by_role("button", name="Zoeken").click()
    expect(page.locator("tbody tr")).to_have_count(2)  # gemeente and Veilig Thuis: no
    expect(page.locator("tbody tr", has_text="niet delen")).to_have_count(2)
    page.get_by_role("link", name=f"tijdlijn van melding {melding_id}").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(melding_id)
    decisions = page.locator(".console-timeline__step--decision")
    expect(decisions).to_have_count(3)
    expect(decisions.first).to_contain_text("beleidsversie")
    expect(page.locator(".console-timeline")).to_contain_text("Vrijgeven van een verstrekking")
    accessible(page, "melding-tijdlijn")

    page.get_by_role("link", name="Grootboek").click()
    page.get_by_role("button", name="Controleer het hele grootboek").click()
    expect(page.get_by_text("Het grootboek is in orde")).to_be_visible()
    accessible(page, "grootboek")

    page.get_by_role("link", name="Inzageverzoek").click()
    page.get_by_label("BSN").fill("111222333")
    page.get_by_label("Kenmerk van het verzoek").fill("AVG-2026-001")
    page.get_by_role("button", name="Overzicht maken").click()
    expect(page.get_by_text("Verstrekkingen, in tijdsvolgorde")).to_be_visible()
    accessible(page, "inzageverzoek")
    with page.expect_download() as pdf:
        page.get_by_role("button", name="Download als PDF").click()
    assert Path(pdf.value.path()).read_bytes().startswith(b"%PDF")
    with page.expect_download() as html:
        page.get_by_role("button", name="Download als HTML").click()
    assert "AVG-2026-001" in Path(html.value.path()).read_text(encoding="utf-8")

    page.get_by_role("link", name="Cijfers").click()
    expect(page.locator(".console-total")).to_contain_text("< 5")  # one melding: suppressed
    expect(page.get_by_role("table", name="Geslacht")).to_contain_text("< 5")  # audit's counters
    accessible(page, "cijfers")
    with page.expect_download() as csv_file:
        page.get_by_role("link", name="Download als CSV").click()
    lines = Path(csv_file.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "jaar;tabel;categorie;aantal" and any("< 5" in line for line in lines)
    assert any(";uitbuitingsvorm;" in line and "< 5" in line for line in lines)

    # every read the console caused is in the trail, as this officer
    reads = {
        e["event_type"]
        for e in console.stack.audit_entries(melding_id)
        if e["type"] == "audit_access" and e["actor"] == "staff:demo-privacy-officer"
    }
    assert {"audit.search", "audit.melding"} <= reads
    page.context.close()


def test_kmt_worker_sees_an_acute_item_appear_and_approves_it_with_a_reason(
    console: Console,
) -> None:
    page = console.login("kmt-worker.token")
    expect(page.get_by_role("heading", level=1)).to_have_text("Beoordelen")
    melding = json.loads((EXAMPLES / "melding-leeftijd-onbekend.json").read_text())
    melding["victim"]["bsn"] = "111222333"  # known to KMT: eerder gemeld finds it
    console.stack.submit(melding)
    melding["signals"]["acute_danger"] = True
    melding_id = console.stack.submit(melding)
    # the page is not reloaded: alerts and queue refresh themselves while it is open
    alert = page.locator(".console-alerts tbody tr", has_text=melding_id[:8])
    expect(alert).to_be_visible(timeout=60_000)
    expect(page.locator(".console-alerts tbody tr").first).to_contain_text(melding_id[:8])
    queue = page.locator("table:not(.console-alerts) tbody tr")
    row = queue.filter(has_text=melding_id[:8])
    expect(row).to_be_visible(timeout=60_000)
    expect(row).to_contain_text("ACUUT")
    expect(queue.first).to_contain_text("ACUUT")  # acute on top
    accessible(page, "werkvoorraad")
    row.get_by_role("link", name="Beoordeel").click()
    expect(page.locator(".utrecht-alert--warning")).to_contain_text("ACUUT")
    accessible(page, "beoordelen")
    # no reason: refused by the console (the browser's own check bypassed, as an attacker would)
    page.locator("#reden").evaluate("e => e.removeAttribute('required')")
    page.get_by_label("Goedkeuren").check()
    page.get_by_role("button", name="Oordeel vastleggen").click()
    expect(page.locator(".utrecht-alert--error")).to_contain_text("reden")
    page.get_by_label("Reden").fill("Leeftijd bevestigd door wijkteam: 15 jaar.")
    page.get_by_role("button", name="Oordeel vastleggen").click()
    expect(page.get_by_text("De verstrekking is goedgekeurd.")).to_be_visible()
    eventually(
        lambda: any(
            e["type"] == "review" and e["actor"] == "staff:demo-kmt-medewerker"
            for e in console.stack.audit_entries(melding_id)
        )
    )
    # eerder gemeld: the first melding was about the same victim (where an alert links to)
    page.goto(f"{console.url}/meldingen/{melding_id}")
    earlier = page.get_by_role("table", name="Eerdere meldingen, nieuwste eerst")
    expect(earlier).to_contain_text("slachtoffer")
    accessible(page, "eerder-gemeld")
    page.context.close()


def policy_zip(tmp_path: Path) -> Path:
    target = tmp_path / "beleid.zip"
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted((REPO / "policies").rglob("*")):
            if path.suffix in (".rego", ".json"):
                archive.write(path, f"policies/{path.relative_to(REPO / 'policies')}")
    return target


def test_operators_keep_four_eyes(console: Console, tmp_path: Path) -> None:
    first = console.login("operator-a.token")
    accessible(first, "beleid")
    first.get_by_label("Het beleid als zip").set_input_files(str(policy_zip(tmp_path)))
    first.get_by_label("Waarom deze versie").fill("het beleid zoals het is")
    first.get_by_role("button", name="Indienen").click()
    expect(first.get_by_text("De versie is ingediend.")).to_be_visible()
    version = first.locator(".console-version").first
    expect(version).to_contain_text("Ingediend door demo-operator-a")
    expect(version).to_contain_text("elke andere operator dan demo-operator-a")
    version.get_by_role("button", name="Proefrun").click()
    expect(first.get_by_text("De proefrun is vastgelegd.")).to_be_visible()
    accessible(first, "beleid-proefrun")
    first.locator(".console-version").first.get_by_role("button", name="Goedkeuren").click()
    expect(first.get_by_role("alert")).to_contain_text("vier ogen")

    second = console.login("operator-b.token")
    second.locator(".console-version").first.get_by_role("button", name="Proefrun").click()
    expect(second.get_by_text("De proefrun is vastgelegd.")).to_be_visible()
    second.locator(".console-version").first.get_by_role("button", name="Goedkeuren").click()
    expect(second.get_by_text("De versie is goedgekeurd.")).to_be_visible()
    second.locator(".console-version").first.get_by_role("button", name="Activeren").click()
    expect(second.get_by_text("De versie is actief")).to_be_visible()
    expect(second.locator(".console-version").first).to_contain_text("actief")
    accessible(second, "beleid-actief")
    first.context.close()
    second.context.close()


def test_keyboard_only_login_verify_and_logout(console: Console) -> None:
    page = console.login("privacy-officer.token", keyboard=True)
    tab_to(page, "Grootboek")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Het grootboek")
    tab_to(page, "Controleer het hele grootboek")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Het grootboek is in orde")).to_be_visible()
    tab_to(page, "Afmelden")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Aanmelden")
    page.context.close()


def test_keyboard_only_review_with_a_reason(console: Console) -> None:
    melding_id = submitted(console, "melding-leeftijd-onbekend.json")
    page = console.login("kmt-worker.token", keyboard=True)
    expect(page.locator("tbody tr", has_text=melding_id[:8])).to_be_visible(timeout=60_000)
    tab_to(page, "Beoordeel")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Verstrekking beoordelen")
    tab_to(page, "Goedkeuren")  # the radio group; an arrow key moves and chooses
    page.keyboard.press("ArrowDown")
    expect(page.get_by_label("Afwijzen")).to_be_checked()
    tab_to(page, "Reden")
    page.keyboard.type("Geen aanwijzing dat het slachtoffer minderjarig is.")
    tab_to(page, "Oordeel vastleggen")
    page.keyboard.press("Enter")
    expect(page.get_by_text("De verstrekking is afgewezen.")).to_be_visible()
    page.context.close()


def test_a_role_gets_a_dutch_403_and_the_session_cookie_is_strict(console: Console) -> None:
    page = console.login("kmt-worker.token")
    answer = page.goto(f"{console.url}/trail")
    assert answer is not None and answer.status == 403
    expect(page.get_by_text("geen toegang tot deze pagina")).to_be_visible()
    accessible(page, "geen-toegang")
    (cookie,) = page.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert console.token("kmt-worker.token") not in json.dumps(page.context.cookies())
    # a form posted without the session's CSRF token changes nothing
    forged = page.request.post(
        f"{console.url}/werkvoorraad/abc", form={"oordeel": "approve", "reden": "x"}
    )
    assert forged.status == 403
    page.context.close()
    assert httpx.get(f"{console.url}/beleid", follow_redirects=False).status_code == 303


def test_login_through_the_organisations_openid_connect_provider(console: Console) -> None:
    """The provider is on `localhost`, the console on 127.0.0.1: another site, so the browser
    does not send the SameSite=Strict cookie on the way back, as with a real provider."""
    page = console.browser.new_context().new_page()
    page.goto(f"{console.url}/aanmelden")
    page.get_by_role("link", name="Aanmelden via OpenID Connect").click()
    page.locator("input[name=sub]").fill("oidc-officer")
    page.get_by_role("button", name="Authorize").click()
    expect(page.get_by_text("Aangemeld als oidc-officer")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audittrail doorzoeken")
    page.context.close()
    stranger = console.browser.new_context().new_page()
    stranger.goto(f"{console.url}/aanmelden/oidc")
    stranger.locator("input[name=sub]").fill("niet-in-het-register")
    stranger.get_by_role("button", name="Authorize").click()
    expect(stranger.get_by_role("alert")).to_contain_text("niet in het medewerkersregister")
    stranger.context.close()
