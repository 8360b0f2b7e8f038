"""arXiv-style listing: three lines per paper.

    LGOct 7, 2022[Code]
    Understanding Edge-of-Stability ... Minimalist ExampleXingyu Zhu, Zixuan Wang et al. · princeton, uw
    <abstract>

The title and the author list are glued together; the split is the point where
the rest of the line parses as a comma-separated list of person names.
"""

from __future__ import annotations

import re

from assistant.ingest.base import MONTH_RE, Collector, parse_month_date

NAME = "arxiv-listing"

HEADER_RE = re.compile(
    rf"^(?P<cat>[A-Z]{{2,6}}(?:\.[A-Z]{{2}})?)(?P<date>{MONTH_RE} \d{{1,2}}(?:, \d{{4}})?)(?P<code>Code)?\s*$"
)

# One person's name: two to five capitalised words, initials ("N.") allowed,
# with hyphens/apostrophes inside words and lowercase particles (van, de, ...).
# Capitals include accented ones ("Łukasz", "Émile"); a few surname prefixes
# may carry a second capital ("LeCun", "McAllester", "O'Brien", "DiCarlo").
_UP = "A-Z" + "".join(ch for ch in map(chr, range(0xC0, 0x250)) if ch.isupper())
_LOW = "a-z\u00df-\u024f'’"
_PREFIX = r"(?:Mc|Mac|O['’]|D['’]|De|Di|Du|Da|La|Le|Van|Von)"
_WORD = rf"(?:{_PREFIX}?[{_UP}][{_LOW}]*(?:-[{_UP}]?[{_LOW}]+)*\.?|[{_UP}]\.)"
_PARTICLE = r"(?:van|von|der|den|de|del|della|da|di|du|la|le|bin|al)"
_PERSON = rf"{_WORD}(?: (?:{_PARTICLE} )*{_WORD}){{1,4}}"
AUTHORS_RE = re.compile(rf"(?P<names>{_PERSON}(?:, {_PERSON})*)(?P<etal> et al\.)?(?: · (?P<affil>.+))?")


def detect(lines: list[str], suffix: str) -> float:
    headers = sum(1 for line in lines if HEADER_RE.match(line))
    return min(1.0, headers / 2) if headers else 0.0


def split_title_authors(line: str) -> tuple[str, list[str], bool, list[str]] | None:
    """Split "TitleFirst Author, Second Author et al. · affil" into parts.

    Candidate split points are upper-case letters glued to the previous
    character (no space before them). The first candidate after which the
    rest of the line is a valid author list wins, so a title that ends in an
    acronym ("... for LLMMo Zhou") splits before "Mo" and not inside "LLM"."""
    for i in range(1, len(line)):
        if not line[i].isupper() or line[i - 1].isspace():
            continue
        m = AUTHORS_RE.fullmatch(line[i:])
        if m:
            title = line[:i].strip()
            if not title:
                continue
            names = [n.strip() for n in m["names"].split(", ")]
            affil = [a.strip() for a in (m["affil"] or "").split(",") if a.strip()]
            return title, names, bool(m["etal"]), affil
    return None


def parse(lines: list[str], col: Collector) -> None:
    starts = [i for i, line in enumerate(lines) if HEADER_RE.match(line)]
    if starts and any(line.strip() for line in lines[: starts[0]]):
        col.warn(1, f"ignored {starts[0]} line(s) of text before the first entry")
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        body = [line for line in lines[start + 1 : end] if line.strip()]
        header = HEADER_RE.match(lines[start])
        assert header  # `starts` holds only header lines
        date, year = parse_month_date(header["date"])
        meta = dict(category=header["cat"], date=date, year=year, has_code=bool(header["code"]))
        lineno = start + 1
        if not body:
            col.skip(lineno, "truncated entry: a date line with no title or abstract after it")
            continue
        split = split_title_authors(body[0].strip())
        authors: list[str]
        affil: list[str]
        if split is None:
            title, authors, et_al, affil = body[0], [], False, []
            col.warn(
                lineno + 1,
                "could not separate the author list from the title; kept the whole line as title",
                col.next_entry,
            )
        else:
            title, authors, et_al, affil = split
        abstract = " ".join(body[1:])
        col.add(lineno, title, abstract, authors=authors, authors_et_al=et_al, affiliations=affil, **meta)
