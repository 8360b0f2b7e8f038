"""Refresh the README's screenshots of the web UI (docs/img/ui-*.png).

Opens the assistant over an existing index (nothing is uploaded, ingested or built),
serves the UI on a free local port and photographs it in Debian's chromium through
Playwright, with the helpers the browser tests use (tests/browser_kit.py). A script,
not a test: pytest does not collect it.

    .venv/bin/python tests/screenshots.py [--out docs/img] [--index-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from browser_kit import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE, PROJECT_DIR, WAIT_MS, Page, ask, serving

MASK_QUESTION = "How do masked autoencoders choose which patches to mask?"
WORLD_CUP = "Who won the 2026 football world cup?"
THEMES = ("light", "dark")
# How a tab is photographed: the desktop in each theme, and a phone (light).
MODES = {
    "light": {"viewport": DESKTOP, "theme": "light"},
    "dark": {"viewport": DESKTOP, "theme": "dark"},
    "phone": {"viewport": PHONE},
}


def save(page, out: Path, name: str, full_page: bool) -> None:
    """One PNG: the whole page, or only what the viewport shows."""
    path = out / f"ui-{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    print(path, file=sys.stderr)


def tab(page, name: str) -> None:
    """Switch to the tab with this label."""
    page.get_by_role("tab", name=name).click()


def quiet(page) -> None:
    """No hover, focus or open tip left over from the last click (they show in a screenshot)."""
    page.keyboard.press("Escape")
    page.mouse.move(0, 0)
    page.evaluate("document.activeElement && document.activeElement.blur()")


def chat_shot(browser, url: str, out: Path, theme: str) -> None:
    """An answer with its citation cards, a marker other than [1] clicked so its card is highlighted."""
    view = Page(browser, url, viewport=DESKTOP, theme=theme)
    page = view.page
    ask(page, MASK_QUESTION)
    markers = page.locator("#chatbot .pa-answer").last.locator("a.pa-cite")
    other = [m for m in markers.all() if m.inner_text().strip() != "[1]"]
    if other:
        other[0].click()  # highlights its card for 2.5 s (page.js) and opens its quote tip
        page.wait_for_timeout(400)  # the highlight's fade-in
        quiet(page)  # the tip would hide the cards below it
        # The highlighted card at the bottom of the chat, so the question above it stays in view.
        page.locator("#chatbot [role=log]").evaluate(
            "log => { const card = log.querySelector('.pa-card.pa-hl'); if (card) log.scrollTop +="
            " card.getBoundingClientRect().bottom - log.getBoundingClientRect().bottom + 16; }"
        )
    save(page, out, f"chat-{theme}", full_page=False)
    view.close()


def compare_shot(browser, url: str, out: Path, mode: str) -> None:
    """The Compare tab with ADAHESSIAN and M-FAC side by side."""
    view = Page(browser, url, **MODES[mode])
    page = view.page
    tab(page, "Compare")
    page.locator("#method-1 textarea").fill("ADAHESSIAN")
    page.locator("#method-2 textarea").fill("M-FAC")
    page.locator("#compare-btn").click()
    page.locator("#compare-table table").wait_for()
    save(page, out, f"compare-{mode}", full_page=True)
    view.close()


def corpus_shot(browser, url: str, out: Path, mode: str) -> None:
    """The Corpus tab: stats, charts, the paper list searched for "masked" and its first paper opened."""
    view = Page(browser, url, **MODES[mode])
    page = view.page
    tab(page, "Corpus")
    page.locator("#paper-query textarea").press_sequentially("masked")
    page.wait_for_timeout(1500)  # the list follows the box on change
    page.locator("#paper-table [data-testid=cell-0-0]").click()
    page.locator("#paper-view .pa-card").wait_for()
    page.locator("#paper-count").click()  # a click outside the table drops the cell's selection handles
    quiet(page)
    save(page, out, f"corpus-{mode}", full_page=True)
    view.close()


def settings_shot(browser, url: str, out: Path, mode: str) -> None:
    """The Settings tab after a backend check."""
    view = Page(browser, url, **MODES[mode])
    page = view.page
    tab(page, "Settings")
    page.locator("#check").click()
    page.locator("#health .pa-notice").wait_for()
    save(page, out, f"settings-{mode}", full_page=True)
    view.close()


def phone_shots(browser, url: str, out: Path) -> None:
    """A phone (light): an answer scrolled into view, then the filters unfolded on a fresh page."""
    from playwright.sync_api import expect

    view = Page(browser, url, viewport=PHONE)
    ask(view.page, MASK_QUESTION)
    view.page.locator("#download-chat").wait_for()  # the last update after an answer (the chat scrolls down on it)
    view.page.wait_for_timeout(300)
    view.page.locator("#chatbot .pa-answer").last.evaluate("e => e.scrollIntoView({block: 'start'})")
    save(view.page, out, "phone-chat", full_page=False)
    view.close()

    view = Page(browser, url, viewport=PHONE)
    content = view.page.locator("#pa-filters [data-testid=accordion-content]")
    expect(content).to_be_hidden(timeout=WAIT_MS)  # the page script folds them on a phone first
    view.page.locator("#pa-filters button.label-wrap").click()
    expect(content).to_be_visible()
    view.page.wait_for_timeout(500)  # the toggle's arrow turns
    save(view.page, out, "phone-filters", full_page=False)
    view.close()


def abstain_shot(browser, url: str, out: Path) -> None:
    """A question the papers cannot answer, declined (dark)."""
    view = Page(browser, url, viewport=DESKTOP, theme="dark")
    ask(view.page, WORLD_CUP)
    view.page.locator("#chatbot .pa-notice-abstain").last.wait_for()
    save(view.page, out, "abstain-dark", full_page=False)
    view.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Refresh the README's screenshots of the web UI: ui-{chat,compare,corpus,settings}-"
        "{light,dark}.png, ui-{compare,corpus,settings}-phone.png, ui-phone-{chat,filters}.png and "
        "ui-abstain-dark.png. Needs Debian's chromium "
        f"at {CHROMIUM} and a built index; the index is only read."
    )
    parser.add_argument(
        "--out", type=Path, default=PROJECT_DIR / "docs" / "img", help="folder for the PNGs (default: docs/img)"
    )
    parser.add_argument(
        "--index-dir",
        type=Path,
        default=os.environ.get("PAPERS_INDEX_DIR"),
        help="folder holding the index (default: $PAPERS_INDEX_DIR)",
    )
    args = parser.parse_args(argv)
    if args.index_dir is None:
        parser.error("give --index-dir or set PAPERS_INDEX_DIR")
    if not CHROMIUM.exists():
        parser.error(f"needs chromium at {CHROMIUM} (apt-get install -y chromium)")

    from playwright.sync_api import sync_playwright

    from assistant.api import PaperAssistant
    from assistant.settings import Settings
    from assistant.ui import build_app

    pa = PaperAssistant.open(Settings(index_dir=args.index_dir), build=False)  # never build an index
    if not pa.index.exists:
        parser.error(f"no index in {args.index_dir} (build one with `papers ingest` first)")
    args.out.mkdir(parents=True, exist_ok=True)
    with serving(build_app(pa)) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        for theme in THEMES:
            chat_shot(browser, url, args.out, theme)
        for mode in MODES:
            for shots in (compare_shot, corpus_shot, settings_shot):
                shots(browser, url, args.out, mode)
        phone_shots(browser, url, args.out)
        abstain_shot(browser, url, args.out)
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
