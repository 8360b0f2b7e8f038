"""Layout registry and auto-detection: every parser scores how sure it is
that a file is in its layout; the best score above zero wins."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from assistant.ingest import arxiv_listing, bibtex, csvfmt, daily_papers, jsonfmt, paper_search, profile
from assistant.ingest.base import Collector


@dataclass(frozen=True)
class Layout:
    name: str
    description: str
    detect: Callable[[list[str], str], float]
    parse: Callable[[list[str], Collector], None]


LAYOUTS: tuple[Layout, ...] = (
    Layout(jsonfmt.JSONL, "JSON Lines, one paper object per line", jsonfmt.detect_jsonl, jsonfmt.parse_jsonl),
    Layout(jsonfmt.JSON, "JSON list of paper objects", jsonfmt.detect_json, jsonfmt.parse_json),
    Layout(bibtex.NAME, "BibTeX with abstract fields", bibtex.detect, bibtex.parse),
    Layout(csvfmt.NAME, "CSV with title and abstract columns", csvfmt.detect, csvfmt.parse),
    Layout(
        arxiv_listing.NAME,
        "arXiv-style listing (category+date line, title+authors, abstract)",
        arxiv_listing.detect,
        arxiv_listing.parse,
    ),
    Layout(
        daily_papers.NAME,
        "daily-papers page (title, abstract, '• N authors', date)",
        daily_papers.detect,
        daily_papers.parse,
    ),
    Layout(profile.NAME, "researcher profile ('preprint2024arXiv', title, abstract)", profile.detect, profile.parse),
    Layout(paper_search.NAME, "paper-search page (title line, abstract line)", paper_search.detect, paper_search.parse),
)
BY_NAME = {layout.name: layout for layout in LAYOUTS}


def detect_layout(lines: list[str], suffix: str) -> Layout | None:
    scored = [(layout.detect(lines, suffix.lower()), -i, layout) for i, layout in enumerate(LAYOUTS)]
    score, _, best = max(scored, key=lambda t: (t[0], t[1]))
    return best if score > 0 else None


def describe_layouts() -> str:
    return "; ".join(f"{layout.name}: {layout.description}" for layout in LAYOUTS)
