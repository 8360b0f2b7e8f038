"""What the web UI costs the server, measured in Debian's chromium (Playwright):

* idle pages: this process's CPU time (the server's, plus Playwright's mostly idle client)
  over a window with 0 pages open, then with N pages
  open and idle (each page's timer asks every `app.POLL_SECONDS` whether the index
  changed: the price of pages that follow the index);
* sessions at once: one page answering alone, then N pages asking at the same moment
  (time from Enter to the answer's footer, per page).

    .venv/bin/python -m evals.bench.ui --index-dir indexes [--pages 20] [--window 60]

It opens an existing index (nothing is written to it) and prints one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import sys
import time
from pathlib import Path

import psutil

CHROMIUM = "/usr/bin/chromium"
QUESTIONS = [
    "How do masked autoencoders choose which patches to mask?",
    "Which paper proposes an adaptive second order optimizer that estimates the Hessian diagonal?",
]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def _idle_cpu(browser, url: str, pages: int, window: float) -> dict:
    """Server CPU seconds per minute with `pages` idle pages open."""
    contexts = [browser.new_context() for _ in range(pages)]
    for ctx in contexts:
        page = ctx.new_page()
        page.goto(url)
        page.locator("#question textarea").wait_for(timeout=120_000)
    time.sleep(5)  # the pages' load events are done
    proc = psutil.Process()
    start, t0 = _cpu(proc), time.perf_counter()
    time.sleep(window)
    used, wall = _cpu(proc) - start, time.perf_counter() - t0
    for ctx in contexts:
        ctx.close()
    return {"pages": pages, "window_s": round(wall, 1), "server_cpu_s_per_min": round(used / wall * 60, 2)}


def _answer_times(browser, url: str, pages: int) -> dict:
    """Seconds from Enter to the answer, for `pages` pages asking at once."""
    views = []
    for i in range(pages):
        ctx = browser.new_context()
        page = ctx.new_page()
        page.set_default_timeout(300_000)
        page.goto(url)
        page.locator("#question textarea").fill(QUESTIONS[i % 2])
        views.append((ctx, page))
    starts = []
    for _, page in views:
        page.locator("#question textarea").press("Enter")
        starts.append(time.perf_counter())
    times, errors = [], 0
    for (ctx, page), start in zip(views, starts):
        page.locator("#chatbot .pa-foot, #chatbot .pa-notice-error").first.wait_for()
        times.append(time.perf_counter() - start)
        errors += page.locator("#chatbot .pa-notice-error").count()
        ctx.close()
    return {
        "pages": pages,
        "median_s": round(statistics.median(times), 2),
        "slowest_s": round(max(times), 2),
        "errors": errors,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.bench.ui", description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-dir", default=os.environ.get("PAPERS_INDEX_DIR"), help="folder holding the index")
    parser.add_argument("--pages", type=int, default=20, help="pages open at once (default: 20)")
    parser.add_argument("--window", type=float, default=60.0, help="seconds of idle CPU measured (default: 60)")
    args = parser.parse_args(argv)
    if not args.index_dir:
        parser.error("--index-dir (or PAPERS_INDEX_DIR) is needed: the index to serve")

    from playwright.sync_api import sync_playwright

    from assistant.api import PaperAssistant
    from assistant.settings import Settings
    from assistant.ui import build_app
    from assistant.ui.app import POLL_SECONDS

    pa = PaperAssistant.open(Settings(index_dir=Path(args.index_dir)), build=False)
    pa.search("masked image modeling", k=1)  # warm: model, store, BM25
    demo = build_app(pa)
    port = _port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    url = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            result = {
                "poll_seconds": POLL_SECONDS,
                "cores": psutil.cpu_count(),
                "papers": len(pa.papers),
                "idle": [_idle_cpu(browser, url, 0, args.window), _idle_cpu(browser, url, args.pages, args.window)],
                "answers": [_answer_times(browser, url, 1), _answer_times(browser, url, args.pages)],
            }
            browser.close()
    finally:
        with contextlib.redirect_stdout(sys.stderr):  # Gradio says "Closing server ..." on stdout
            demo.close()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
