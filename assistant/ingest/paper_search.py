"""Paper-search page: a short header, then one title line and one abstract
line per paper. The first title is glued to the header's "Subscribe" button."""

from __future__ import annotations

import re

from assistant.ingest.base import Collector, preview

NAME = "paper-search"

BOILERPLATE_RE = re.compile(r"^(Get trending papers in your email inbox.*|Subscribe)$")
MAX_TITLE = 300


def _is_title(line: str) -> bool:
    return 0 < len(line) <= MAX_TITLE and not line.endswith(".")


def _is_abstract(line: str) -> bool:
    # A full abstract: long, or several sentences.
    return len(line) > MAX_TITLE or line.count(". ") >= 2


def detect(lines: list[str], suffix: str) -> float:
    text = [line.strip() for line in lines if line.strip()]
    if any(BOILERPLATE_RE.match(line) for line in text[:5]) or any(line.startswith("Subscribe") for line in text[:5]):
        score = 0.6
    else:
        score = 0.0
    body = [line for line in text if not BOILERPLATE_RE.match(line)]
    pairs = sum(1 for a, b in zip(body[::2], body[1::2]) if _is_title(a) and _is_abstract(b))
    if len(body) >= 2 and pairs >= 0.8 * (len(body) // 2):
        score += 0.4
    return score


def parse(lines: list[str], col: Collector) -> None:
    body: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or BOILERPLATE_RE.match(line):
            continue
        if not body and line.startswith("Subscribe") and len(line) > 9 and not line[9].islower():
            line = line[len("Subscribe") :].strip()
        body.append((number, line))
    i = 0
    while i < len(body):
        number, line = body[i]
        nxt = body[i + 1][1] if i + 1 < len(body) else None
        if _is_title(line) and nxt is not None and _is_abstract(nxt):
            col.add(number, line, nxt)
            i += 2
        elif _is_title(line) and nxt is None:
            col.skip(number, f"truncated entry at end of file: title {preview(line)!r} has no abstract")
            i += 1
        elif _is_title(line):
            col.skip(number, f"title with no abstract: {preview(line)!r}")
            i += 1
        else:
            col.skip(number, f"abstract with no title: {preview(line)!r}")
            i += 1
