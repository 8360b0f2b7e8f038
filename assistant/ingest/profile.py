"""Researcher profile page: navigation text, then per paper

preprint2026arXiv

<title>

<abstract>
"""

from __future__ import annotations

import re

from assistant.ingest.base import Collector

NAME = "profile"

MARKER_RE = re.compile(
    r"^(?P<kind>preprint|article|conference|journal|inproceedings|book|chapter|thesis|other)"
    r"(?P<year>(?:19|20)\d{2})(?P<venue>.*)$",
    re.IGNORECASE,
)


def detect(lines: list[str], suffix: str) -> float:
    hits = sum(1 for line in lines if MARKER_RE.match(line.strip()))
    return min(1.0, hits / 2) if hits else 0.0


def parse(lines: list[str], col: Collector) -> None:
    markers = [i for i, line in enumerate(lines) if MARKER_RE.match(line.strip())]
    for n, idx in enumerate(markers):
        end = markers[n + 1] if n + 1 < len(markers) else len(lines)
        body = [(i + 1, lines[i].strip()) for i in range(idx + 1, end) if lines[i].strip()]
        m = MARKER_RE.match(lines[idx].strip())
        assert m
        meta = dict(year=int(m["year"]), venue=m["venue"].strip() or None)
        if not body:
            col.skip(idx + 1, "truncated entry: a publication marker with no title or abstract")
            continue
        title_line, title = body[0]
        abstract = " ".join(text for _, text in body[1:])
        if n == len(markers) - 1 and len(body) > 2:
            # The last entry may be followed by page footer text; keep only the abstract paragraph.
            abstract = body[1][1]
            col.warn(body[2][0], "ignored text after the last entry")
        col.add(title_line, title, abstract, **meta)
