"""What the browser tests share: Debian's chromium driven by Playwright (a real
browser; `apt-get install -y chromium`), a Gradio app served on a free port, and
helpers to open a page, ask a question and wait for the answer. tests/conftest.py
loads it as a plugin, so its `browser` fixture is there for every test module."""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

PROJECT_DIR = Path(__file__).resolve().parent.parent
SHOTS = PROJECT_DIR / "test-output" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
WAIT_MS = 60_000
DESKTOP = {"width": 1400, "height": 1000}
PHONE = {"width": 400, "height": 900}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(demo):
    """Serve a built Gradio app on a free local port; yields its URL."""
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        demo.close()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        message = "browser tests need Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)"
        if os.environ.get("PAPERS_REQUIRE_BROWSER") == "1":  # set by .ci/run: in CI a missing browser fails
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)  # expect()'s own default is 5 s: too short on 2 busy cores
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def full_app(browser, full_index):
    """The UI over the whole bundled corpus on the real model (read-only: nothing is uploaded)."""
    from assistant.ui import build_app

    with serving(build_app(full_index)) as url:
        yield url


class Page:
    """A page of the app in its own browser context, with every request it made."""

    def __init__(self, browser, url: str, viewport: dict | None = None, theme: str | None = None, clipboard=False,
                 touch=False):
        permissions = ["clipboard-read", "clipboard-write"] if clipboard else []
        self.context = browser.new_context(viewport=viewport or DESKTOP, accept_downloads=True,
                                           permissions=permissions, has_touch=touch)
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.requests: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.url = url
        self.page.goto(url + (f"/?__theme={theme}" if theme else ""))
        self.page.locator("#question textarea").wait_for()

    def foreign_requests(self) -> list[str]:
        """Requests to any host but the app's own (fonts, images, trackers...)."""
        own = urlsplit(self.url).netloc
        return [u for u in self.requests if urlsplit(u).scheme in ("http", "https") and urlsplit(u).netloc != own]

    def close(self) -> None:
        self.context.close()


def open_page(browser, url: str, **kwargs):
    return Page(browser, url, **kwargs).page


def answered(page):
    return page.locator("#chatbot .pa-foot, #chatbot .pa-notice-error")


def ask(page, question: str) -> None:
    """Type a question, press Enter, wait until its answer (or error) is shown."""
    turns = answered(page).count()
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    wait_answers(page, turns + 1)


def wait_answers(page, n: int) -> None:
    from playwright.sync_api import expect

    expect(answered(page)).to_have_count(n, timeout=WAIT_MS)


def shot(page, name: str, folder: Path = SHOTS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
