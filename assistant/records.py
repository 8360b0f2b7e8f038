"""Typed records that flow through the assistant.

`Paper` is what ingestion produces; later stages (`Chunk`, `Hit`, `Answer`)
only ever read papers, never the raw pages they came from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from assistant.identity import (
    arxiv_of_doi,
    id_key,
    id_of,
    normalize_arxiv,
    normalize_doi,
    normalize_pmid,
    split_external_id,
    title_id,
)
from assistant.identity import normalize_title as normalize_title  # re-exported: records are where callers look


def paper_id(title: str) -> str:
    """The id of a paper known by its title alone (same normalised title, same id).
    A paper with a DOI, arXiv or PubMed id, or a generic title, gets its id from
    those instead: see `assistant.identity` and `Paper.id`."""
    return title_id(title)


@dataclass
class SourceRef:
    """Where a record was read: file, detected format, entry number and line."""

    file: str
    format: str
    entry: int
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line} (entry {self.entry})"


@dataclass
class Paper:
    """One paper, possibly merged from several source records."""

    title: str
    abstract: str
    authors: list[str] = field(default_factory=list)
    authors_et_al: bool = False
    author_count: int | None = None
    year: int | None = None
    date: str | None = None
    category: str | None = None
    affiliations: list[str] = field(default_factory=list)
    has_code: bool = False
    url: str | None = None
    venue: str | None = None
    external_id: str | None = None  # an id the input file gave (a corpus id, a BibTeX key, a DOI...)
    sources: list[SourceRef] = field(default_factory=list)
    id: str = ""  # ours, stable: the hash of the paper's best identity key (assistant.identity)
    doi: str | None = None  # lower case, no "doi:" or link ("10.1234/abc")
    arxiv_id: str | None = None  # without version ("2301.01234", "hep-th/9901001")
    pmid: str | None = None  # PubMed id, digits

    def __post_init__(self) -> None:
        # Identifiers are kept normalised; an id the file gave that is a DOI or arXiv id counts as one.
        if self.doi is not None:
            self.doi = normalize_doi(self.doi)
        if self.arxiv_id is not None:
            self.arxiv_id = normalize_arxiv(self.arxiv_id)
        if self.pmid is not None:
            self.pmid = normalize_pmid(str(self.pmid))
        self._datacite()
        if self.external_id and not (self.doi and self.arxiv_id):
            doi, arxiv = split_external_id(self.external_id)
            self.doi, self.arxiv_id = self.doi or doi, self.arxiv_id or arxiv
            self._datacite()
        if not self.id:
            self.id = id_of(*id_key(self))

    def _datacite(self) -> None:
        """arXiv's DataCite DOI names the preprint: it is the arXiv id, and leaves the DOI
        free for the journal version's (from the file's own id, say)."""
        if self.doi and (arxiv := arxiv_of_doi(self.doi)):
            self.doi, self.arxiv_id = None, self.arxiv_id or arxiv

    @property
    def source_files(self) -> list[str]:
        """The files this paper was read from, sorted, each once."""
        return sorted({s.file for s in self.sources})

    def cited_as(self) -> str:
        """'Title (Wang et al., 2023)': how answers and tables name a paper."""
        meta = ", ".join(
            x for x in (short_authors(self.authors, self.authors_et_al), str(self.year) if self.year else "") if x
        )
        return self.title + (f" ({meta})" if meta else "")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        # `id` first: it is what people grep for in the JSON.
        return {"id": data.pop("id"), **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Paper:
        sources = [SourceRef(**s) for s in data.get("sources", [])]
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "sources"}
        return cls(**fields, sources=sources)


@dataclass
class Problem:
    """A skipped entry or a warning, located as precisely as the input allows."""

    file: str
    line: int | None
    reason: str
    entry: int | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.entry is not None:
            where += f" (entry {self.entry})"
        return f"{where}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "entry": self.entry, "reason": self.reason}


@dataclass
class FileReport:
    """What ingesting one file produced."""

    file: str
    format: str | None
    papers: list[Paper] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    error: str | None = None  # the whole file could not be used

    @property
    def records(self) -> int:
        return len(self.papers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.format,
            "records": self.records,
            "skipped": [p.to_dict() for p in self.skipped],
            "warnings": [p.to_dict() for p in self.warnings],
            "error": self.error,
        }


@dataclass
class Chunk:
    """A piece of one paper's abstract, as embedded and searched.

    `start`/`end` are character offsets of `text` in the paper's abstract, so
    a citation can point at the exact sentence. What gets embedded and
    searched is `title + "\\n" + text` (see `indexed_text`)."""

    id: str
    paper_id: str
    n: int
    text: str
    start: int
    end: int
    title: str

    @property
    def indexed_text(self) -> str:
        return f"{self.title}\n{self.text}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ChunkMatch:
    """A chunk that matched a query, with the evidence of why."""

    chunk: Chunk
    score: float
    dense_rank: int | None = None
    bm25_rank: int | None = None
    dense_score: float | None = None
    bm25_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.chunk.id,
            "n": self.chunk.n,
            "text": self.chunk.text,
            "start": self.chunk.start,
            "end": self.chunk.end,
            "score": round(self.score, 6),
            "dense_rank": self.dense_rank,
            "bm25_rank": self.bm25_rank,
            "dense_score": None if self.dense_score is None else round(self.dense_score, 6),
            "bm25_score": None if self.bm25_score is None else round(self.bm25_score, 6),
        }


@dataclass
class Hit:
    """One paper in a ranked search result, with its best matching chunks."""

    paper: Paper
    score: float
    chunks: list[ChunkMatch]
    rank: int = 0
    sentence_score: float | None = None  # best abstract sentence's cosine to the query (sentence fusion)

    @property
    def paper_id(self) -> str:
        return self.paper.id

    @property
    def title(self) -> str:
        return self.paper.title

    @property
    def authors(self) -> list[str]:
        return self.paper.authors

    @property
    def year(self) -> int | None:
        return self.paper.year

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "paper_id": self.paper_id,
            "title": self.title,
            "authors": self.authors,
            "year": self.year,
            "score": round(self.score, 6),
            "category": self.paper.category,
            "has_code": self.paper.has_code,
            "url": self.paper.url,
            "sources": self.paper.source_files,
            "sentence_score": None if self.sentence_score is None else round(self.sentence_score, 6),
            "chunks": [c.to_dict() for c in self.chunks],
        }


def author_list(authors: list[str], et_al: bool = False, most: int | None = None) -> str:
    """'Wang, Li, Chen et al.': the names (the first `most` of them, all when None), and
    'et al.' when the source listed only some of them or names were left out here."""
    names = [a.strip() for a in authors if a and a.strip()]
    if not names:
        return ""
    cut = most is not None and len(names) > most
    return ", ".join(names[:most] if most is not None else names) + (" et al." if et_al or cut else "")


def short_authors(authors: list[str], et_al: bool = False) -> str:
    """'Wang', 'Wang and Li', 'Wang et al.' (surnames) for inline citations."""
    surnames = [a.split()[-1] for a in authors if a.strip()]
    if not surnames:
        return ""
    if len(surnames) == 1 and not et_al:
        return surnames[0]
    if len(surnames) == 2 and not et_al:
        return f"{surnames[0]} and {surnames[1]}"
    return f"{surnames[0]} et al."


@dataclass
class Source:
    """A paper an answer was written from, numbered as its citation marker [n]."""

    n: int
    paper: Paper
    score: float  # retrieval score (fused)
    relevance: float = 0.0  # best question-sentence match in its abstract (0-1)

    def to_dict(self) -> dict[str, Any]:
        p = self.paper
        return {
            "n": self.n,
            "paper_id": p.id,
            "title": p.title,
            "authors": p.authors,
            "year": p.year,
            "category": p.category,
            "url": p.url,
            "sources": p.source_files,
            "score": round(self.score, 6),
            "relevance": round(self.relevance, 4),
        }


@dataclass
class Citation:
    """A marker [n] in an answer, tied to a paper and the sentence that supports it."""

    n: int
    paper_id: str
    title: str
    authors: list[str]
    year: int | None
    quote: str  # the supporting sentence, verbatim from the abstract
    start: int  # its character span in the abstract
    end: int
    source: str  # the file(s) the paper was read from
    url: str | None = None
    support: float = 1.0  # how well the quote supports the answer sentence (1 in extractive mode)
    sentence: int | None = None  # index of the answer sentence that carries the marker

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "paper_id": self.paper_id,
            "title": self.title,
            "authors": self.authors,
            "year": self.year,
            "quote": self.quote,
            "start": self.start,
            "end": self.end,
            "source": self.source,
            "url": self.url,
            "support": round(self.support, 4),
            "sentence": self.sentence,
        }


@dataclass
class CitationChecks:
    """What checking the citations of an answer found."""

    removed_markers: list[str] = field(default_factory=list)  # markers that named no source (removed)
    uncited_sentences: list[str] = field(default_factory=list)  # answer sentences with no marker
    weak_citations: list[int] = field(default_factory=list)  # markers whose best quote barely supports the sentence
    ok: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Answer:
    """An answer with its evidence. `text` holds the markers [n]; `citations`
    map them to papers and sentences; `sources` are the papers read."""

    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    abstained: bool = False
    # Who wrote the text: "extractive" (no model involved, also the threshold's abstentions),
    # "llm:<model>" (a model answer that passed the checks, or the model's abstention),
    # "extractive (LLM fallback)" (the model was called; its reply failed or was rejected: `fallback` says why).
    backend: str = "extractive"
    confidence: float = 0.0  # answerability compared with the abstention threshold (1.0: a comparison table)
    checks: CitationChecks = field(default_factory=CitationChecks)
    notices: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)
    standalone_question: str | None = None  # a follow-up, as resolved against the conversation
    table: Any = None  # a Comparison when the question asked to compare methods
    # Per filtered field, how many papers the filter left out for lacking it ({"year": 537}).
    filter_excluded: dict[str, int] = field(default_factory=dict)
    # Papers outside the filter that answer clearly better than any inside (the answer abstains).
    outside_filter: list[Source] = field(default_factory=list)
    fallback: str | None = None  # why the model's answer is not shown (backend "extractive (LLM fallback)")

    @property
    def model_written(self) -> bool:
        """The text was written (or the abstention decided) by the model."""
        return self.backend.startswith("llm:")

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "citations": [c.to_dict() for c in self.citations],
            "sources": [s.to_dict() for s in self.sources],
            "abstained": self.abstained,
            "backend": self.backend,
            "confidence": round(self.confidence, 4),
            "checks": self.checks.to_dict(),
            "notices": self.notices,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "usage": self.usage,
            "standalone_question": self.standalone_question,
            "comparison": self.table.to_dict() if self.table is not None else None,
            "filter_excluded": self.filter_excluded,
            "outside_filter": [s.to_dict() for s in self.outside_filter],
            "fallback": self.fallback,
        }
