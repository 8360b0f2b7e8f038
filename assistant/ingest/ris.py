"""RIS (.ris), as Zotero, Mendeley, EndNote, Web of Science, Scopus and PubMed export it:

    TY  - JOUR
    TI  - Sparse experts at scale
    AU  - Müller, Jörg
    PY  - 2021
    AB  - We study ...
    ER  -

The entries are found by their `TY  -` and `ER  -` lines here (so each is located
by line, and one without its start or end line is reported); the tags of each
entry are read by rispy."""

from __future__ import annotations

import re
from typing import Any

import rispy

from assistant.identity import normalize_doi
from assistant.ingest.base import Collector
from assistant.ingest.structured import arxiv_from, date_from_text, identifiers, reading_order

NAME = "ris"

TAG_RE = re.compile(r"([A-Z][A-Z0-9])  -(?: |$)")  # what rispy reads as a tag line
_PMID_NOTE = re.compile(r"(?im)^\s*PMID:\s*(\d{1,9})\b")
_PUBMED_DB = re.compile(r"(?i)pubmed|medline|\bnlm\b")
VENUE_KEYS = ("secondary_title", "alternate_title3", "journal_name", "alternate_title1", "alternate_title2")


def detect(lines: list[str], suffix: str) -> float:
    if suffix == ".ris":
        return 1.0
    starts = ends = 0
    for line in lines:
        if line.startswith(("TY  -", "\ufeffTY  -")):
            starts += 1
        elif line.startswith("ER  -"):
            ends += 1
        if starts and ends:
            return 0.95
    return 0.0


def parse(lines: list[str], col: Collector) -> None:
    start: int | None = None  # line of the open entry's TY
    orphan: int | None = None  # first line of tags met outside any entry
    stray: int | None = None  # first line of other text met outside any entry
    for number, raw in enumerate(lines, start=1):
        line = raw.removeprefix("\ufeff") if number == 1 else raw
        tag = m[1] if (m := TAG_RE.match(line)) else None
        if start is not None:
            if tag == "TY":
                col.skip(start, f"entry never ends: no 'ER  -' line before the next entry's 'TY  -' on line {number}")
                start = number
            elif tag == "ER":
                _entry(col, start, lines[start - 1 : number], line_one=start == 1)
                start = None
            continue
        if tag == "TY":
            _outside(col, orphan, stray, number)
            start, orphan, stray = number, None, None
        elif tag == "ER":
            if orphan is not None:
                col.skip(orphan, f"entry has no 'TY  -' line: its tags up to 'ER  -' on line {number} were not read")
            else:
                col.warn(number, "'ER  -' line outside any entry; ignored")
            orphan = stray = None
        elif tag is not None:
            orphan = orphan if orphan is not None else number
        elif line.strip():
            stray = stray if stray is not None else number
    if start is not None:
        col.skip(start, "entry cut short: the file ends before its 'ER  -' line")
    _outside(col, orphan, stray, None)


def _outside(col: Collector, orphan: int | None, stray: int | None, until: int | None) -> None:
    """Report what stood between entries: tags without a TY line, or other text."""
    end = f"line {until}" if until else "the end of the file"
    if orphan is not None:
        col.skip(orphan, f"entry has no 'TY  -' and no 'ER  -' line: tags up to {end} were not read")
    elif stray is not None:
        col.warn(stray, f"text outside any entry (up to {end}) ignored: not RIS tag lines")


def _entry(col: Collector, line: int, block: list[str], line_one: bool) -> None:
    if line_one:
        block = [block[0].removeprefix("\ufeff"), *block[1:]]
    try:
        [record] = rispy.loads("\n".join(block))
    except Exception as exc:  # rispy's own failure on odd input: one entry lost, never the file
        col.skip(line, f"RIS entry could not be read ({type(exc).__name__}: {exc})")
        return
    title = _first(record, "title", "primary_title")
    abstract = _first(record, "abstract", "notes_abstract")
    names = record.get("authors") or record.get("first_authors") or []
    # 'Last, First[, Suffix]' in reading order ('First Last Suffix'); a name without a comma as it is.
    authors = [reading_order(n.split(",")) for n in names if isinstance(n, str) and n.strip()]
    meta: dict[str, Any] = {"authors": [a for a in authors if a]}
    for key in ("date", "publication_year", "year"):  # DA, Y1, PY: the first full date, the first year
        day, year = date_from_text(_first(record, key))
        if year:
            meta.setdefault("year", year)
        if day:
            meta.setdefault("date", day)
    urls = [u for u in record.get("urls") or [] if isinstance(u, str) and u.strip()]
    if urls:
        meta["url"] = urls[0]
    venue = next((v for k in VENUE_KEYS if (v := _first(record, k))), None)
    if venue:
        meta["venue"] = venue
    doi = _first(record, "doi") or normalize_doi(_first(record, "type_of_work"))  # EndNote puts some DOIs in M3
    accession = _first(record, "accession_number")
    pmid = _pmid(record, accession)
    notes = [_first(record, "note"), accession, *_unknown(record, "M2")]
    arxiv = arxiv_from(*urls, doi) or arxiv_from(*(n for n in notes if n and n.lower().startswith("arxiv:")))
    meta.update(identifiers(col, line, doi=doi, pmid=pmid, labels={"doi": "tag DO", "pmid": "tag AN"}))
    if arxiv:
        meta["arxiv_id"] = arxiv
    own = _first(record, "id") or (accession if accession and accession != pmid else "")
    if own:
        meta["external_id"] = own
    if "url" not in meta and "doi" in meta:
        meta["url"] = "https://doi.org/" + meta["doi"]
    col.add(line, title, abstract, **meta)


def _first(record: dict[str, Any], *keys: str) -> str:
    """The first non-empty text among `keys` (a list value: its first text)."""
    for key in keys:
        value = record.get(key)
        if isinstance(value, list):
            value = next((v for v in value if isinstance(v, str) and v.strip()), "")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _unknown(record: dict[str, Any], tag: str) -> list[str]:
    return list((record.get("unknown_tag") or {}).get(tag, []))


def _pmid(record: dict[str, Any], accession: str) -> str | None:
    """The PubMed id: an accession number (AN) of a record from PubMed/MEDLINE (DB or DP
    says so), or a 'PMID: n' line in the notes or extra fields (N1, M1, M2)."""
    source = " ".join((_first(record, "name_of_database"), _first(record, "database_provider")))
    if accession.isdigit() and _PUBMED_DB.search(source):
        return accession
    texts = [*(record.get("notes") or []), _first(record, "note"), *_unknown(record, "M2")]
    for text in texts:
        if isinstance(text, str) and (m := _PMID_NOTE.search(text)):
            return m[1]
    return None
