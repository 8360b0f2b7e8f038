"""Layout registry and auto-detection: every parser scores how sure it is
that a file is in its layout; the best score above zero wins."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from assistant.ingest import (
    arxiv_listing,
    atom,
    bibtex,
    csljson,
    csvfmt,
    daily_papers,
    jsonfmt,
    paper_search,
    pdf,
    profile,
    ris,
    services,
)
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
    Layout(
        ris.NAME,
        "RIS export of Zotero, Mendeley, EndNote, Web of Science ('TY  - JOUR' ... 'ER  -')",
        ris.detect,
        ris.parse,
    ),
    Layout(
        csljson.NAME,
        "CSL-JSON list of items (Zotero CSL JSON, Better CSL JSON): title, abstract, author, issued, DOI",
        csljson.detect,
        csljson.parse,
    ),
    Layout(
        atom.NAME,
        "arXiv API Atom response (export.arxiv.org/api/query saved as .xml/.atom)",
        atom.detect,
        atom.parse,
    ),
    Layout(
        services.OPENALEX,
        "OpenAlex works JSON (api.openalex.org/works page, list or one work; abstract_inverted_index)",
        services.detect_openalex,
        services.parse_openalex,
    ),
    Layout(
        services.SEMANTIC_SCHOLAR,
        "Semantic Scholar Graph API papers JSON (paper search page with 'data', list or one paper)",
        services.detect_semantic_scholar,
        services.parse_semantic_scholar,
    ),
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
    # Binary: `ingest_file` reads a PDF before any text detection (pdf.detect scores text 0).
    Layout(pdf.NAME, pdf.DESCRIPTION, pdf.detect, pdf.parse),
)
BY_NAME = {layout.name: layout for layout in LAYOUTS}


def detect_layout(lines: list[str], suffix: str) -> Layout | None:
    scored = [(layout.detect(lines, suffix.lower()), -i, layout) for i, layout in enumerate(LAYOUTS)]
    score, _, best = max(scored, key=lambda t: (t[0], t[1]))
    return best if score > 0 else None


def describe_layouts() -> str:
    return "; ".join(f"{layout.name}: {layout.description}" for layout in LAYOUTS)
