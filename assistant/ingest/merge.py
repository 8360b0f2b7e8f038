"""Merge records that are the same paper (same normalized title), keeping the
richest metadata and every source."""

from __future__ import annotations

from assistant.records import Paper


def _richer_authors(a: Paper, b: Paper) -> Paper:
    # A complete list beats a truncated one of the same length; more names beat fewer.
    return max((a, b), key=lambda p: (len(p.authors), not p.authors_et_al))


def merge_into(base: Paper, other: Paper) -> None:
    if len(other.abstract) > len(base.abstract):
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
            by_key[key] = Paper.from_dict(paper.to_dict())  # copy: inputs stay untouched
    return list(by_key.values()), merged
