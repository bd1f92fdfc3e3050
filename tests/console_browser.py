"""The console's browser tests' tools: Debian's Chromium driven by Playwright (never a
browser download), axe-core on every page, screenshots, and keyboard-only steps."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
"""Where `CONSOLE_SCREENSHOTS=1` writes the README's screenshots (otherwise a temporary
folder, so a test run leaves the work tree as it was)."""
BLOCKING = ("serious", "critical")
_axe = Axe()


@contextmanager
def chromium() -> Iterator[Browser]:
    """One headless Chromium for a test module; Playwright gives it a fresh, temporary
    profile (user data dir) of its own, and each person a context with their own cookies."""
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def screenshot_dir() -> Path:
    if os.environ.get("CONSOLE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return Path(tempfile.gettempdir()) / "kmt-console-screenshots"


def accessible(page: Page, name: str) -> None:
    """axe-core on the page as it is now: no violation of impact serious or critical; and a
    screenshot of it as `<name>.png`."""
    result = _axe.run(page)
    blocking: list[dict[str, Any]] = [
        v for v in result.response["violations"] if v.get("impact") in BLOCKING
    ]
    assert not blocking, f"{name}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}" for v in blocking
    )
    folder = screenshot_dir()
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def tab_to(page: Page, text: str, limit: int = 60) -> None:
    """Press Tab until the focused element's text, label or value contains `text`."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => { const e = document.activeElement;
                if (!e || e === document.body) return '';
                const label = e.labels && e.labels.length ? e.labels[0].innerText : '';
                return [e.innerText, e.value, label, e.getAttribute('aria-label')].join(' '); }"""
        )
        if text in (focused or ""):
            return
    raise AssertionError(f"met Tab niet bij {text!r} gekomen")
