"""Daily-papers page: paragraphs separated by blank lines.

    <title>

    <abstract>

      • 3 authors
    ·
    Mar 3, 2023        (year may be missing: "Sep 29"; a trailing count may follow)

Text before the first entry (the page header) is ignored.
"""

from __future__ import annotations

import re

from assistant.ingest.base import MONTH_RE, Collector, parse_month_date, preview

NAME = "daily-papers"

AUTHORS_RE = re.compile(r"^\s*•\s*(?P<n>\d+) authors?\s*$")
DATE_RE = re.compile(rf"^(?P<date>{MONTH_RE} \d{{1,2}}(?:, \d{{4}})?)(?:\s+\d+)?\s*$")


def detect(lines: list[str], suffix: str) -> float:
    hits = sum(1 for line in lines if AUTHORS_RE.match(line))
    return min(1.0, hits / 2) if hits else 0.0


def _paragraphs(lines: list[str], start: int, end: int) -> list[tuple[int, str]]:
    """(first line number, text) of each blank-separated paragraph in lines[start:end]."""
    paras: list[tuple[int, str]] = []
    current: list[str] = []
    first = 0
    for i in range(start, end):
        if lines[i].strip():
            if not current:
                first = i + 1
            current.append(lines[i].strip())
        elif current:
            paras.append((first, " ".join(current)))
            current = []
    if current:
        paras.append((first, " ".join(current)))
    return paras


def parse(lines: list[str], col: Collector) -> None:
    markers = [i for i, line in enumerate(lines) if AUTHORS_RE.match(line)]
    prev_end = 0
    for n, idx in enumerate(markers):
        paras = _paragraphs(lines, prev_end, idx)
        # After the marker: "·" then the date, each on its own line.
        j, date, year = idx + 1, None, None
        while j < len(lines) and lines[j].strip() in ("", "·"):
            j += 1
        if j < len(lines) and (m := DATE_RE.match(lines[j].strip())):
            date, year = parse_month_date(m["date"])
            prev_end = j + 1
        else:
            prev_end = idx + 1
        header = AUTHORS_RE.match(lines[idx])
        assert header  # `markers` holds only the lines it matches
        count = int(header["n"])
        if len(paras) < 2:
            line = paras[0][0] if paras else idx + 1
            what = (
                f"title {preview(paras[0][1])!r} has no abstract" if paras else "author line with no title or abstract"
            )
            col.skip(line, f"truncated entry: {what}")
            continue
        if n > 0 and len(paras) > 2:
            # Text between two entries is an entry cut short (its author line and date are missing).
            (line, text), extra = paras[0], len(paras) - 2
            col.skip(
                line,
                f"truncated entry: {preview(text)!r} has no '• N authors' line after it"
                + (f" ({extra} paragraphs skipped)" if extra > 1 else ""),
            )
        (title_line, title), (_, abstract) = paras[-2], paras[-1]
        if year is None and date is None:
            col.warn(idx + 1, "no date after the author count", col.next_entry)
        col.add(title_line, title, abstract, author_count=count, date=date, year=year)
    # Anything after the last entry is a cut-off entry (or page footer).
    tail = _paragraphs(lines, prev_end, len(lines))
    if markers and tail:
        line, text = tail[0]
        if len(tail) >= 2:
            col.warn(line, "truncated entry at end of file: no author count or date", col.next_entry)
            col.add(line, text, " ".join(t for _, t in tail[1:]))
        else:
            col.skip(line, f"truncated entry at end of file: title {preview(text)!r} has no abstract")
