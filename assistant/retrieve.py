"""Hybrid retrieval: dense (Chroma) + BM25 over the same chunks, fused by
weighted reciprocal rank, filtered, grouped to papers, optionally diversified
with MMR."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from assistant.errors import QueryError
from assistant.index import PaperIndex
from assistant.ingest import daily_papers, paper_search, profile
from assistant.records import ChunkMatch, Hit, Paper
from assistant.settings import Settings

# Above this many allowed papers, a filtered dense query over-fetches and
# post-filters instead of sending Chroma a long `paper_id IN (...)` list.
MAX_IN_FILTER = 1000


# Page layouts that never say whether a paper has code (the arXiv-style listing does, and
# JSON/CSV exports may, in a has_code column): their papers' has_code=False means "unknown".
NO_CODE_FLAG = frozenset({daily_papers.NAME, paper_search.NAME, profile.NAME})

# The filtered fields a paper may lack -> what messages say such a paper has.
LACKING = {
    "year": "no year",
    "category": "no category",
    "author": "no authors listed",
    "has_code": "no code information",
}


@dataclass
class Filters:
    """Metadata filters; every field is optional and they combine with AND.

    Many papers lack a field (537 of the 723 bundled ones have no year), and a filter
    cannot tell whether such a paper matches: it is left out unless `include_unknown`
    is set, and results say how many were left out that way (`excluded_for_lack`)."""

    year_from: int | None = None
    year_to: int | None = None
    author: str | None = None  # case-insensitive substring of any author
    category: str | list[str] | None = None  # e.g. "LG" or ["LG", "CV"]
    source: str | None = None  # substring of a source file name
    has_code: bool | None = None
    include_unknown: bool = False  # keep papers lacking a filtered field (no year, no category, ...)

    @classmethod
    def coerce(cls, value: Filters | dict[str, Any] | None) -> Filters:
        if value is None:
            return cls()
        if isinstance(value, Filters):
            return value
        known = {f.name for f in fields(cls)}
        unknown = set(value) - known
        if unknown:
            raise QueryError(f"unknown filter(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
        return cls(**value)

    @property
    def active(self) -> bool:
        """Some field restricts the papers (`include_unknown` alone restricts nothing)."""
        return any(getattr(self, f.name) not in (None, "", []) for f in fields(self) if f.name != "include_unknown")

    def lacking(self, paper: Paper) -> list[str]:
        """The filtered fields (keys of LACKING) this paper does not have."""
        out = []
        if (self.year_from is not None or self.year_to is not None) and paper.year is None:
            out.append("year")
        if self.category and not paper.category:
            out.append("category")
        if self.author and not paper.authors:
            out.append("author")
        if self.has_code is not None and not paper.has_code and all(s.format in NO_CODE_FLAG for s in paper.sources):
            out.append("has_code")
        return out

    def failing(self, paper: Paper) -> list[str]:
        """The filtered fields this paper does not match; a field it lacks never matches."""
        lacking = self.lacking(paper)
        out = []
        if (
            "year" in lacking
            or (self.year_from is not None and paper.year is not None and paper.year < self.year_from)
            or (self.year_to is not None and paper.year is not None and paper.year > self.year_to)
        ):
            out.append("year")
        if self.category:
            wanted = {self.category} if isinstance(self.category, str) else set(self.category)
            if (paper.category or "").upper() not in {c.upper() for c in wanted}:
                out.append("category")
        if self.author and not any(self.author.lower() in a.lower() for a in paper.authors):
            out.append("author")
        if self.source and not any(self.source.lower() in s.file.lower() for s in paper.sources):
            out.append("source")
        if self.has_code is not None and ("has_code" in lacking or paper.has_code != self.has_code):
            out.append("has_code")
        return out

    def allows(self, paper: Paper) -> bool:
        failing = self.failing(paper)
        return not failing or (self.include_unknown and set(failing) <= set(self.lacking(paper)))

    def excluded_for_lack(self, papers: Iterable[Paper]) -> dict[str, int]:
        """Per filtered field, how many of `papers` are left out only for lacking fields
        (`include_unknown` would keep them; one lacking two fields counts for both)."""
        if self.include_unknown or not self.active:
            return {}
        counts: Counter[str] = Counter()
        for paper in papers:
            failing, lacking = self.failing(paper), self.lacking(paper)
            if failing and set(failing) <= set(lacking):
                counts.update(lacking)
        return {name: counts[name] for name in LACKING if counts[name]}

    def describe(self) -> str:
        """The filter in words ("years 2023-2024, category CV"), for messages."""
        parts = []
        if self.year_from is not None and self.year_to is not None:
            parts.append(f"years {self.year_from}-{self.year_to}")
        elif self.year_from is not None:
            parts.append(f"year {self.year_from} and later")
        elif self.year_to is not None:
            parts.append(f"year {self.year_to} and earlier")
        if self.category:
            wanted = [self.category] if isinstance(self.category, str) else list(self.category)
            parts.append(f"{'category' if len(wanted) == 1 else 'categories'} {', '.join(wanted)}")
        if self.author:
            parts.append(f"author contains “{self.author}”")
        if self.source:
            parts.append(f"source file contains “{self.source}”")
        if self.has_code is not None:
            parts.append("with code" if self.has_code else "without code")
        if parts and self.include_unknown:
            parts.append("and papers lacking a filtered field")
        return ", ".join(parts)

    def why_not(self, paper: Paper) -> str:
        """Why the filter leaves `paper` out ("no year", "category LG"), for messages."""
        lacking = self.lacking(paper)
        value = {
            "year": f"year {paper.year}",
            "category": f"category {paper.category}",
            "author": "other authors",
            "source": "another source file",
            "has_code": "code" if paper.has_code else "no code",
        }
        return ", ".join(LACKING[name] if name in lacking else value[name] for name in self.failing(paper))


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]
    notices: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    query_vector: np.ndarray | None = None  # the query's embedding (None when dense retrieval is off)
    filter_excluded: dict[str, int] = field(default_factory=dict)  # see Filters.excluded_for_lack

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "hits": [h.to_dict() for h in self.hits],
            "notices": self.notices,
            "filter_excluded": self.filter_excluded,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }


def excluded_lines(filter_excluded: dict[str, int]) -> list[str]:
    """One sentence per filtered field saying how many papers were left out for lacking
    it ("The year filter left out 537 papers with no year"); each front end adds how
    its user includes them."""
    return [
        f"The {name.replace('_', '-')} filter left out {n} paper{'s' if n != 1 else ''} with {LACKING[name]}"
        for name, n in filter_excluded.items()
    ]


def clip_query(text: str, max_chars: int, what: str = "query") -> tuple[str, list[str]]:
    """Whitespace collapsed, cut to `max_chars` (with a notice saying so)."""
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text, []
    return text[:max_chars], [f"{what} cut from {len(text)} to {max_chars} characters"]


def validate_filters(index: PaperIndex, filters: Filters) -> None:
    """Refuse filter values that cannot match anything in this index, naming
    what would (rather than returning a silent empty list)."""
    papers = index.papers
    for name in ("year_from", "year_to"):
        value = getattr(filters, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise QueryError(f"filter {name} must be a year (a whole number), not {value!r}")
    for name in ("author", "source"):
        value = getattr(filters, name)
        if value is not None and not isinstance(value, str):
            raise QueryError(f"filter {name} must be text, not {value!r}")
    if filters.category is not None and not (
        isinstance(filters.category, str)
        or (isinstance(filters.category, (list, tuple)) and all(isinstance(c, str) for c in filters.category))
    ):
        raise QueryError(f"filter category must be a name or a list of names, not {filters.category!r}")
    for name in ("has_code", "include_unknown"):
        value = getattr(filters, name)
        if value is not None and not isinstance(value, bool):
            raise QueryError(f"filter {name} must be true or false, not {value!r}")
    if filters.year_from is not None and filters.year_to is not None and filters.year_from > filters.year_to:
        raise QueryError(f"year range is empty: from {filters.year_from} to {filters.year_to}")
    if filters.category:
        known = sorted({p.category for p in papers if p.category})
        wanted = [filters.category] if isinstance(filters.category, str) else list(filters.category)
        bad = [c for c in wanted if c.upper() not in {k.upper() for k in known}]
        if bad:
            raise QueryError(
                f"unknown category {', '.join(map(repr, bad))}; this index has: {', '.join(known) or 'none'}"
            )
    if filters.author and not any(filters.author.lower() in a.lower() for p in papers for a in p.authors):
        raise QueryError(f"no indexed paper has an author matching {filters.author!r}")
    if filters.source and not any(filters.source.lower() in s.file.lower() for p in papers for s in p.sources):
        files = sorted({s.file for p in papers for s in p.sources})
        raise QueryError(f"no source file matches {filters.source!r}; indexed files: {', '.join(files)}")


def search(
    index: PaperIndex,
    query: str,
    k: int | None = None,
    filters: Filters | dict[str, Any] | None = None,
    mmr: bool | None = None,
    exclude: Collection[str] = (),
    settings: Settings | None = None,
    query_vector: np.ndarray | None = None,
    sentence_aggregate: Callable[[np.ndarray], float] | None = None,
    max_in_filter: int = MAX_IN_FILTER,
) -> SearchResult:
    """`exclude`: paper ids searched as if they were not indexed (leave-gold-out
    evaluation and the abstention calibration ask questions of the library
    without the paper that answers them). `settings`: the search-time settings to use
    (weights, candidates, MMR...; default: the index's own); fields that shape the index
    (model, chunking) must match it. `query_vector`: the query's embedding, when the caller
    has its own (else the index's embedder makes it); `sentence_aggregate`: how a paper's
    sentence cosines (highest first) become its sentence score (default: the best one).
    Both exist so experiments can try variants without patching the library.
    `max_in_filter`: with a filter allowing more papers than this, the dense query
    over-fetches and post-filters instead of sending Chroma the allowed ids (a test
    passes 0 to take that path on a small index)."""
    s = settings or index.settings
    if s.shaping() != index.settings.shaping():
        raise QueryError(
            "these search settings change what the index's vectors mean (model or chunking: "
            f"{s.shaping()} vs the index's {index.settings.shaping()}); a search variant may change only "
            "search-time settings"
        )
    k = k or s.top_k
    if not isinstance(query, str) or not query.strip():
        raise QueryError("empty query: type a few words describing the papers you want")
    if k < 1:
        raise QueryError(f"k must be at least 1 (got {k})")
    filters = Filters.coerce(filters)
    query, notices = clip_query(query, s.max_query_chars)
    if not index.exists:
        raise QueryError(f"the index {s.index_path} is empty; add papers to it first")
    validate_filters(index, filters)
    excluded = filters.excluded_for_lack(p for p in index.papers if p.id not in exclude)
    timings: dict[str, float] = {}

    allowed: set[str] | None = None
    mask = None
    if filters.active or exclude:
        allowed = {p.id for p in index.papers if filters.allows(p) and p.id not in exclude}
        if not allowed:
            return SearchResult(
                query,
                [],
                notices + ["no indexed paper matches these filters together"],
                timings,
                filter_excluded=excluded,
            )
        mask = np.fromiter((pid in allowed for pid in index.chunk_paper), dtype=np.float32, count=len(index.chunks))

    n = s.candidates
    dense: list[tuple[int, float]] = []
    if s.dense_weight > 0:
        # Open the stores first (a down server or damaged folder is reported at
        # once), then load the model; all once, outside the timed part.
        _ = (index.vectors, index.bm25, index.embedder)
        t = time.perf_counter()
        vector = index.embedder.embed_query(query) if query_vector is None else query_vector
        timings["embed"] = time.perf_counter() - t
        t = time.perf_counter()
        only, fetch = None, n
        if mask is not None and not filters.active:  # (mask is set exactly when allowed is)
            # Only `exclude`: fetch as many more chunks as the excluded papers hold (a
            # few), rather than sending Chroma the ids of every other paper.
            fetch = min(len(index.chunks), n + int(len(mask) - mask.sum()))
        elif allowed is not None:
            if len(allowed) <= max_in_filter:
                only = sorted(allowed)
            else:
                fetch = min(len(index.chunks), n * 4)
        for cid, sim in index.vectors.query(vector, fetch, paper_ids=only):
            pos = index.chunk_pos.get(cid)  # ids outside the manifest are leftovers: ignore
            if pos is not None and (allowed is None or index.chunks[pos].paper_id in allowed):
                dense.append((pos, sim))
        dense = dense[:n]
        timings["dense"] = time.perf_counter() - t
    bm25 = index.bm25
    t = time.perf_counter()
    lexical = bm25.query(query, n, mask=mask) if s.bm25_weight > 0 else []
    timings["bm25"] = time.perf_counter() - t

    t = time.perf_counter()
    fused: dict[int, ChunkMatch] = {}
    for rank, (pos, sim) in enumerate(dense, start=1):
        m = fused.setdefault(pos, ChunkMatch(index.chunks[pos], 0.0))
        m.dense_rank, m.dense_score = rank, sim
        m.score += rrf(rank, s.dense_weight, s.rrf_k)
    for rank, (pos, score) in enumerate(lexical, start=1):
        m = fused.setdefault(pos, ChunkMatch(index.chunks[pos], 0.0))
        m.bm25_rank, m.bm25_score = rank, score
        m.score += rrf(rank, s.bm25_weight, s.rrf_k)

    by_paper: dict[str, list[ChunkMatch]] = {}
    for match in sorted(fused.values(), key=lambda m: -m.score):
        by_paper.setdefault(match.chunk.paper_id, []).append(match)
    hits = [
        Hit(index.paper_by_id[pid], matches[0].score, matches[: s.chunks_per_hit]) for pid, matches in by_paper.items()
    ]
    if s.sentence_weight > 0 and dense:
        _fuse_sentences(index, hits, vector, s.sentence_weight, s.rrf_k, sentence_aggregate)
    hits.sort(key=lambda h: -h.score)
    if mmr if mmr is not None else s.mmr:
        hits = _mmr(index, hits, k, s.mmr_lambda)
    hits = hits[:k]
    for rank, hit in enumerate(hits, start=1):
        hit.rank = rank
    timings["fuse"] = time.perf_counter() - t
    timings["total"] = sum(timings.values())
    return SearchResult(query, hits, notices, timings, vector if s.dense_weight > 0 else None, excluded)


def rrf(rank: int, weight: float, rrf_k: float) -> float:
    """Weighted reciprocal-rank fusion: what rank `rank` (1 = best) in one ranking adds to a
    score. The one fusion formula of search: chunks by their dense and BM25 ranks, then
    papers by their best sentence's rank. (Own code, not LlamaIndex's QueryFusionRetriever:
    its reciprocal-rank mode ignores retriever weights and fixes k at 60, and the weights
    and rrf_k here are tuned on golden dev and SciFact train.)"""
    return weight / (rrf_k + rank)


def _fuse_sentences(
    index: PaperIndex,
    hits: list[Hit],
    vector: np.ndarray,
    weight: float,
    rrf_k: float,
    aggregate: Callable[[np.ndarray], float] | None = None,
) -> None:
    """Add a third reciprocal-rank term: the candidates ranked by their best abstract
    sentence's cosine to the query (stored sentence vectors; a paper with none stored
    gets no term). A paper whose one sentence says exactly what was asked rises
    above one that matches the topic loosely throughout."""
    table = index.sentences
    if not len(table):  # an index built with sentence_vectors off: no third ranking
        return
    for hit in hits:
        hit.sentence_score = table.best_match(hit.paper.abstract, vector, aggregate)
    scored = [(score, h) for h in hits if (score := h.sentence_score) is not None]
    ranked = [h for _, h in sorted(scored, key=lambda pair: -pair[0])]
    for rank, hit in enumerate(ranked, start=1):
        hit.score += rrf(rank, weight, rrf_k)


def _mmr(index: PaperIndex, hits: list[Hit], k: int, lam: float) -> list[Hit]:
    """Maximal marginal relevance over papers, using each hit's best chunk
    vector: picks relevant papers that are not near-copies of ones already picked."""
    if len(hits) <= 1:
        return hits
    vecs = index.vectors.vectors([h.chunks[0].chunk.id for h in hits])
    if len(vecs) < len(hits):
        return hits
    matrix = np.vstack([vecs[h.chunks[0].chunk.id] for h in hits])
    relevance = np.array([h.score for h in hits])
    relevance = relevance / relevance.max()
    chosen: list[int] = [0]
    rest = list(range(1, len(hits)))
    while rest and len(chosen) < k:
        sims = matrix[rest] @ matrix[chosen].T
        scores = lam * relevance[rest] - (1 - lam) * sims.max(axis=1)
        best = rest[int(np.argmax(scores))]
        chosen.append(best)
        rest.remove(best)
    return [hits[i] for i in chosen] + [hits[i] for i in rest]
