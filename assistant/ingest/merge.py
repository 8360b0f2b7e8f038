"""Merge records that are the same paper (same normalized title), keeping the
richest metadata and every source."""

from __future__ import annotations

import copy
import re

from assistant.records import Paper


def _richer_authors(a: Paper, b: Paper) -> Paper:
    # A complete list beats a truncated one of the same length; more names beat fewer.
    return max((a, b), key=lambda p: (len(p.authors), not p.authors_et_al))


_MARKUP = re.compile(r"\\[a-zA-Z]+\s*\{")


def _better_abstract(current: str, other: str) -> bool:
    """Does `other` read better? The longer copy wins, except that a copy free
    of LaTeX markup (\\textit{...}) beats a marked-up one nearly as long."""
    in_other, in_current = len(_MARKUP.findall(other)), len(_MARKUP.findall(current))
    if in_other != in_current:
        fewer, more = (other, current) if in_other < in_current else (current, other)
        if len(fewer) >= 0.8 * len(more):
            return fewer is other
    return len(other) > len(current)


def merge_into(base: Paper, other: Paper) -> None:
    if _better_abstract(base.abstract, other.abstract):
        base.abstract = other.abstract
    richer = _richer_authors(base, other)
    base.authors, base.authors_et_al = list(richer.authors), richer.authors_et_al
    base.author_count = base.author_count or other.author_count
    if base.year is None:
        base.year = other.year
    # A full ISO date beats a year-less "--MM-DD".
    if other.date and (base.date is None or (base.date.startswith("--") and not other.date.startswith("--"))):
        base.date = other.date
    for name in ("category", "url", "venue", "external_id"):
        if getattr(base, name) is None:
            setattr(base, name, getattr(other, name))
    base.affiliations += [a for a in other.affiliations if a not in base.affiliations]
    base.has_code = base.has_code or other.has_code
    base.sources += other.sources


def merge_papers(papers: list[Paper]) -> tuple[list[Paper], int]:
    """Return (unique papers in first-seen order, number of records merged away)."""
    by_key: dict[str, Paper] = {}
    merged = 0
    for paper in papers:
        key = paper.key
        if key in by_key:
            merge_into(by_key[key], paper)
            merged += 1
        else:
            by_key[key] = _own_copy(paper)
    return list(by_key.values()), merged


def _own_copy(paper: Paper) -> Paper:
    """A copy whose lists are its own: merging must leave the inputs untouched.
    (`copy.copy`, not `dataclasses.replace`: no __init__ run for each of 40k papers.)"""
    own = copy.copy(paper)
    own.authors, own.affiliations, own.sources = list(paper.authors), list(paper.affiliations), list(paper.sources)
    return own


def place_records(current: list[Paper], fresh: dict[str, list[Paper]], prune: bool = False) -> list[Paper]:
    """The index's record list after reading the files of `fresh` ({source file: its records}):
    a file read again takes the place its records had (so re-reading an unchanged file leaves
    the list, and the index, exactly as it was), new files come last, and the records of
    files not read now are kept unless `prune`."""
    records: list[Paper] = []
    placed: set[str] = set()
    for paper in current:
        file = paper.sources[0].file
        if file in fresh:
            if file not in placed:
                records += fresh[file]
                placed.add(file)
        elif not prune:
            records.append(paper)
    return records + [p for file, papers in fresh.items() if file not in placed for p in papers]
