"""Shared pieces of the layout parsers: the collector that validates records,
and small text helpers (dates, whitespace)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from assistant.records import FileReport, Paper, Problem, SourceRef

MONTHS = {
    m: i
    for i, m in enumerate(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], start=1)
}
MONTH_RE = "(?:" + "|".join(MONTHS) + ")"
# "Oct 7, 2022", "Sep 29" (no year), "Jun 12, 2024"
MONTH_DATE_RE = re.compile(rf"(?P<mon>{MONTH_RE}) (?P<day>\d{{1,2}})(?:, (?P<year>\d{{4}}))?")


def parse_month_date(text: str) -> tuple[str | None, int | None]:
    """Return (date, year) for "Mon D[, YYYY]": ISO date when the year is known,
    "--MM-DD" (ISO 8601 without year) when it is not."""
    m = MONTH_DATE_RE.fullmatch(text.strip())
    if not m:
        return None, None
    month, day = MONTHS[m["mon"]], int(m["day"])
    if m["year"]:
        year = int(m["year"])
        try:
            return date(year, month, day).isoformat(), year
        except ValueError:
            return None, year
    return f"--{month:02d}-{day:02d}", None


def squash(text: str) -> str:
    """Collapse runs of whitespace into one space and strip the ends."""
    return " ".join(text.split())


_ENTITY = re.compile(r"&(?:#\d{1,6}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});")


def clean_text(text: str) -> str:
    """squash(), and HTML character references (&#34; &amp;) that saved pages
    leave in their text turned into the characters they stand for."""
    text = squash(text)
    return html.unescape(text) if _ENTITY.search(text) else text


def preview(text: str, width: int = 60) -> str:
    text = squash(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def one_line(exc: BaseException, width: int = 160) -> str:
    """An exception's message on one line, shortened (its type's name when it has none)."""
    return preview(str(exc), width) or type(exc).__name__


@dataclass
class Collector:
    """Receives the entries a parser finds and applies the rules every format
    shares: a record needs a title and an abstract, anything else is optional."""

    file: str
    format: str
    report: FileReport = field(init=False)

    def __post_init__(self) -> None:
        self.report = FileReport(file=self.file, format=self.format)
        self._entries = 0

    def add(self, line: int, title: str | None, abstract: str | None, **meta: Any) -> Paper | None:
        """Validate and store one entry; returns the paper or None if skipped."""
        self._entries += 1
        entry = self._entries
        title, abstract = clean_text(title or ""), clean_text(abstract or "")
        if not title and not abstract:
            self.skip(line, "entry has neither title nor abstract", entry)
            return None
        if not title:
            self.skip(line, f"abstract with no title ({preview(abstract)!r})", entry)
            return None
        if not abstract:
            self.skip(line, f"title with no abstract: {preview(title)!r}", entry)
            return None
        paper = Paper(
            title=title,
            abstract=abstract,
            **meta,
            sources=[SourceRef(file=self.file, format=self.format, entry=entry, line=line)],
        )
        self.report.papers.append(paper)
        return paper

    def skip(self, line: int | None, reason: str, entry: int | None = None) -> None:
        if entry is None:
            self._entries += 1
            entry = self._entries
        self.report.skipped.append(Problem(self.file, line, reason, entry))

    def warn(self, line: int | None, reason: str, entry: int | None = None) -> None:
        self.report.warnings.append(Problem(self.file, line, reason, entry))

    @property
    def next_entry(self) -> int:
        return self._entries + 1
