"""From a question to evidence: retrieve papers, split their abstracts into
sentences, score each sentence against the question, and say how confident
the evidence is (the number abstention compares with its threshold)."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assistant.answer import abstain
from assistant.answer.asked import Focus, asked_quantities, states
from assistant.answer.cues import (
    BACKGROUND_PENALTY,
    about_other_work,
    is_background,
    names_title,
    relations,
    role,
)
from assistant.answer.text import (
    content_terms,
    overlap,
    sentence_spans,
    weighted_overlaps,
)
from assistant.index import PaperIndex
from assistant.index.vectors import VectorStoreError
from assistant.records import Paper, Source, paper_id
from assistant.retrieve import Filters, search

# Weights of a sentence's score: meaning (MiniLM cosine) and shared content words.
DENSE_WEIGHT, LEXICAL_WEIGHT = 0.65, 0.35
CONTRIBUTION_BONUS = 0.05
# The other papers' sentences count for this fraction when a paper's title names what the question asks about.
OTHER_THAN_NAMED = 0.5
_CONTRIBUTION = re.compile(
    r"\b(?:we|this (?:paper|work)|our (?:work|method))\s+(?:propose|introduce|present|develop)", re.IGNORECASE
)


@dataclass
class Sentence:
    """One sentence of a source's abstract, scored against the question."""

    source: Source
    position: int  # index of the sentence in its abstract
    start: int
    end: int
    dense: float = 0.0
    lexical: float = 0.0
    score: float = 0.0
    match: float = 0.0  # the score before the cues that choose among a paper's sentences (`weigh`)
    gives: bool = False  # gives a value for a quantity the question asks for

    @property
    def paper(self) -> Paper:
        return self.source.paper

    @property
    def text(self) -> str:
        return self.paper.abstract[self.start : self.end]


@dataclass
class Evidence:
    question: str
    terms: frozenset[str]
    sources: list[Source]
    sentences: list[Sentence]  # best first (those giving an asked-for quantity before the rest)
    confidence: float
    notices: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    signals: dict[str, Any] = field(default_factory=dict)  # what the confidence was made of
    asked: list[Focus] = field(default_factory=list)  # quantities the question asks for
    unstated: list[Focus] = field(default_factory=list)  # ... that no evidence sentence gives
    filter_excluded: dict[str, int] = field(default_factory=dict)  # papers the filter left out for lacking a field

    @property
    def answerability(self) -> float:
        """The score abstention compares with the library's threshold (`abstain.score`)."""
        return abstain.score(self.signals["features"]) if "features" in self.signals else self.confidence

    @property
    def nothing_stated(self) -> bool:
        """The question asks for quantities and the evidence states none of them."""
        return bool(self.asked) and len(self.unstated) == len(self.asked)


class SentenceVectors:
    """Embeddings of abstract sentences: read from the index's stored table
    (embedded at ingest), else embedded on first use and kept (LRU). Keyed by
    the sentence text, so an abstract replaced by a later ingest is embedded anew."""

    def __init__(self, index: PaperIndex, capacity: int = 50_000):
        self.index, self.capacity = index, capacity
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()  # the UI answers several sessions at once
        self.embedded = 0  # sentences this object had to embed (not found stored)

    def get(self, items: list[tuple[Paper, int, int]]) -> np.ndarray:
        keys = [p.abstract[s:e] for p, s, e in items]
        found = self.index.sentences.lookup(keys)
        with self._lock:
            for k in keys:
                if k not in found and k in self._cache:
                    found[k] = self._cache[k]
                    self._cache.move_to_end(k)
        todo = list(dict.fromkeys(k for k in keys if k not in found))
        if todo:  # embedded outside the lock
            fresh = dict(zip(todo, self.index.embedder.embed_documents(todo)))
            found.update(fresh)
            with self._lock:
                self.embedded += len(todo)
                for k, v in fresh.items():
                    self._cache[k] = v
                    self._cache.move_to_end(k)
                while len(self._cache) > self.capacity:
                    self._cache.popitem(last=False)
        return np.vstack([found[k] for k in keys]) if keys else np.zeros((0, 1), dtype=np.float32)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        return self.index.embedder.embed_documents(texts) if texts else np.zeros((0, 1), dtype=np.float32)


class PaperTerms:
    """How many indexed papers use each content term (title + abstract), to spot
    the rare words by which a question names one paper ("MaskFeat", "token crisis").
    Counted on first use and again when the indexed papers change."""

    def __init__(self, index: PaperIndex):
        self.index = index
        self._papers: list[Paper] | None = None  # the list counted (an ingest replaces the index's list)
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def counts(self) -> Counter[str]:
        with self._lock:
            if self._papers is not self.index.papers:
                self._papers = self.index.papers
                self._counts = Counter(t for p in self._papers for t in content_terms(f"{p.title} {p.abstract}"))
            return self._counts


# Text between a pair of quotes ("...", '...', “...”, ‘...’, «...»); overlapping (a
# lookahead), so an apostrophe ("What's in 'Title'") cannot swallow the quote that opens
# a title, and a double-quoted title may hold an apostrophe ("Attention Isn't ...").
_QUOTED = re.compile(
    r"""(?=(?:"([^"]{6,400}?)"|'([^']{6,400}?)'|“([^”]{6,400}?)”|‘([^’]{6,400}?)’|«([^»]{6,400}?)»))"""
)


def quoted_papers(index: PaperIndex, question: str) -> list[str]:
    """Ids of the indexed papers whose title the question quotes ("According to
    'Scaling Laws for Neural Language Models', ..."). A paper's id is derived from its
    normalised title, so a quoted title names a paper when its id is indexed."""
    quoted = (next(g for g in m.groups() if g) for m in _QUOTED.finditer(question))
    return list(dict.fromkeys(pid for pid in map(paper_id, quoted) if pid in index.paper_by_id))


def score_sentences(
    vectors: SentenceVectors, question_vec: np.ndarray, terms: frozenset[str], sources: list[Source]
) -> list[Sentence]:
    sentences = [
        Sentence(src, i, s, e) for src in sources for i, (s, e) in enumerate(sentence_spans(src.paper.abstract))
    ]
    if not sentences:
        return []
    matrix = vectors.get([(x.paper, x.start, x.end) for x in sentences])
    dense = matrix @ question_vec
    for x, d in zip(sentences, dense):
        x.dense = float(max(d, 0.0))
    weigh(sentences, terms)
    for src in sources:
        src.relevance = max((x.score for x in sentences if x.source is src), default=0.0)
    return sorted(sentences, key=lambda x: -x.score)


def weigh(sentences: list[Sentence], terms: frozenset[str]) -> None:
    """Set each sentence's score from its match with the question (`dense`, and `lexical`:
    its share of the question's words, weighted by their rarity among these sentences),
    its paper's retrieval rank, and what its wording and place say (`cues`)."""
    for x, lexical in zip(sentences, weighted_overlaps(terms, [x.text for x in sentences])):
        x.lexical = lexical
    asked = relations(" ".join(sorted(terms)))  # "What limits ...": the limit relation
    count = Counter(x.source.n for x in sentences)
    cued = []
    for x in sentences:
        # A mild prior for the retrieval rank, so ties go to the better paper; a bonus for the
        # sentence that states the contribution ("we propose ..."), a penalty for background
        # (which also lowers a paper whose best match is its background).
        prior = 1.0 - 0.03 * (x.source.n - 1)
        background = is_background(x.text) or about_other_work(x.text)
        x.score = (
            max(
                0.0,
                DENSE_WEIGHT * x.dense
                + LEXICAL_WEIGHT * x.lexical
                + (CONTRIBUTION_BONUS if _CONTRIBUTION.search(x.text) else 0.0)
                - (BACKGROUND_PENALTY if background else 0.0),
            )
            * prior
        )
        x.match = x.score
        cued.append(x.score + role(x.text, x.position, count[x.source.n], asked) * prior)
    # The other cues (finding, place, relation: `cues.role`) choose among one paper's sentences, not
    # between papers: each paper's cued scores are scaled so that its best keeps its plain best
    # (added as they are, they let the finding of a wrong paper win: golden dev citation precision fell).
    best_plain: defaultdict[int, float] = defaultdict(float)
    best_cued: defaultdict[int, float] = defaultdict(float)
    for x, c in zip(sentences, cued):
        best_plain[x.source.n] = max(best_plain[x.source.n], x.score)
        best_cued[x.source.n] = max(best_cued[x.source.n], c)
    for x, c in zip(sentences, cued):
        if best_cued[x.source.n] > 0:
            x.score = c * best_plain[x.source.n] / best_cued[x.source.n]
    # A paper whose title is what the question asks about ("What is neural collapse in deep linear
    # networks?") answers it before papers that only mention it.
    titles = {x.source.n: x.paper.title for x in sentences}
    named = {n for n, title in titles.items() if names_title(terms, title)}
    if named:
        for x in sentences:
            if x.source.n not in named:
                x.score *= OTHER_THAN_NAMED
                x.match *= OTHER_THAN_NAMED


def confidence(terms: frozenset[str], sources: list[Source], sentences: list[Sentence]) -> tuple[float, dict[str, Any]]:
    """How well the best source answers the question, 0-1: the mean of the best
    sentence's meaning match and the share of the question's content words the
    paper (title + abstract) contains, for the best of the top three papers."""
    best, signals = 0.0, {}
    for src in sources[:3]:
        top = max((x.dense for x in sentences if x.source is src), default=0.0)
        cover = overlap(terms, f"{src.paper.title} {src.paper.abstract}") if terms else 0.0
        value = 0.5 * top + 0.5 * cover
        if value > best:
            best, signals = value, {"paper": src.n, "sentence_match": round(top, 4), "coverage": round(cover, 4)}
    return best, signals


def gather(
    index: PaperIndex,
    vectors: SentenceVectors,
    paper_terms: PaperTerms,
    question: str,
    k: int,
    filters: Filters | dict | None = None,
    restrict: list[str] | None = None,
    asked: str | None = None,
    exclude: Collection[str] = (),
) -> Evidence:
    """Retrieve `k` papers for `question` and score their sentences.
    `restrict`: only these paper ids (a follow-up about earlier sources; by default the
    papers whose exact title the question quotes, if any);
    `exclude`: paper ids treated as not indexed (see `retrieve.search`);
    `asked`: what a follow-up about the `restrict` papers asks (the user's words without
    the references "the second one", "it"), when `question` adds the titles it refers to
    (those titles must not count as evidence that the question is answered)."""
    t0 = time.perf_counter()
    if restrict is None:  # a question that names its paper by title is answered from that paper
        allowed = Filters.coerce(filters)
        restrict = [
            pid
            for pid in quoted_papers(index, asked or question)
            if allowed.allows(index.paper_by_id[pid]) and pid not in exclude
        ] or None
    result = search(
        index, question, k=k if restrict is None else max(k, len(restrict) * 3), filters=filters, exclude=exclude
    )
    hits = result.hits if restrict is None else [h for h in result.hits if h.paper_id in restrict]
    sources = [Source(0, h.paper, h.score) for h in hits]
    if restrict is not None:  # papers named by the conversation come even when the new words miss them
        have, allowed = {h.paper_id for h in hits}, Filters.coerce(filters)
        sources += [
            Source(0, index.paper_by_id[pid], 0.0)
            for pid in restrict
            if pid not in have
            and pid in index.paper_by_id
            and pid not in exclude
            and allowed.allows(index.paper_by_id[pid])
        ]
    for n, src in enumerate(sources, start=1):
        src.n = n
    timings = {f"search_{k_}": v for k_, v in result.timings.items()}
    t = time.perf_counter()
    terms = content_terms(asked or question)
    # The search embedded the question already; a follow-up is scored on the words the user typed.
    qvec = (
        result.query_vector
        if asked is None and result.query_vector is not None
        else index.embedder.embed_query(asked or question)
    )
    sentences = score_sentences(vectors, qvec, terms, sources)
    if asked is not None and restrict is not None:
        # A follow-up about earlier papers asks what *they* do ("What does the second one predict?"):
        # their background sentences about other work ("Typical approaches predict ...") do not say.
        sentences = [x for x in sentences if not about_other_work(x.text)] or sentences
    conf, signals = confidence(terms, sources, sentences)
    dense = (
        top_cosines(index, result.hits, sources, qvec)
        if restrict is not None
        else [max((m.dense_score for m in h.chunks if m.dense_score is not None), default=0.0) for h in hits[:2]]
    )
    signals["restricted"] = restrict is not None  # papers the user named (a follow-up, a quoted title)
    signals["features"] = abstain.features(
        asked or question,
        terms,
        sources,
        hits,
        sentences,
        signals.get("sentence_match", 0.0),
        conf,
        paper_terms.counts(),
        len(index.papers),
        dense,
    )
    asked_for = asked_quantities(asked or question)
    unstated: list[Focus] = []
    if asked_for:
        named = named_sources(terms - frozenset().union(*(f.terms for f in asked_for)), sources, paper_terms.counts())
        scope = [x for x in sentences if (x.source in named if named else x.source.n <= STATED_PAPERS)]
        unstated = unstated_quantities(asked_for, scope)
        if len(unstated) < len(asked_for):  # sentences giving an asked-for value come first: they answer it
            for x in scope:
                x.gives = any(states(f, x.text) for f in asked_for)
            sentences.sort(key=lambda x: (not x.gives, -x.score))
        signals.update(
            asked=[f.describe() for f in asked_for],
            unstated=[f.describe() for f in unstated],
            named=[src.n for src in named],
        )
    timings["sentences"] = time.perf_counter() - t
    timings["evidence"] = time.perf_counter() - t0
    return Evidence(
        result.query,
        terms,
        sources,
        sentences,
        conf,
        list(result.notices),
        timings,
        signals,
        asked_for,
        unstated,
        filter_excluded=result.filter_excluded,
    )


def top_cosines(
    index: PaperIndex, ranked: list, sources: list[Source], qvec: np.ndarray, competitors: int = 5
) -> list[float]:
    """[best chunk cosine of the first source, of its strongest competitor] to `qvec`, for
    evidence restricted to named papers (a follow-up, a quoted title): the search that
    found them ran on words that name them (a follow-up appends their titles), so its
    scores would count the names as evidence; here every cosine is to the words asked.
    Competitors are the other papers that search ranked highest; one that matches better
    does not count against a paper the user picked (the gap is never below 0)."""
    if not sources:
        return []
    named = {s.paper.id for s in sources}
    ids = [sources[0].paper.id] + [h.paper_id for h in ranked if h.paper_id not in named][:competitors]
    wanted = set(ids)
    chunk_ids = [c.id for c in index.chunks if c.paper_id in wanted]
    try:
        stored = index.vectors.vectors(chunk_ids)
    except VectorStoreError:  # a signal, not the answer: without vectors, no dense signal
        return []
    best: dict[str, float] = {}
    for cid, vec in stored.items():
        pid = index.chunks[index.chunk_pos[cid]].paper_id
        best[pid] = max(best.get(pid, -1.0), float(vec @ qvec))
    first = best.get(ids[0], 0.0)
    rivals = [best[p] for p in ids[1:] if p in best]
    return [first, min(first, max(rivals))] if rivals else [first]


STATED_PAPERS = 3  # an asked-for quantity must be given by one of the top papers (as for the confidence) ...
NAMING_PAPERS = 3  # ... or, when the question names a paper by a word at most this many papers use, by it


def named_sources(terms: frozenset[str], sources: list[Source], counts: Counter[str]) -> list[Source]:
    """The sources a question names: those using one of its rare words (in at most
    NAMING_PAPERS indexed papers): 'What FID does MaskFeat reach' names MaskFeat's paper,
    so another paper's FID does not answer it."""
    rare = {t for t in terms if 0 < counts[t] <= NAMING_PAPERS}
    return [src for src in sources if rare & content_terms(f"{src.paper.title} {src.paper.abstract}")]


def unstated_quantities(asked: list[Focus], sentences: list[Sentence]) -> list[Focus]:
    """The asked-for quantities no sentence gives (a number next to the words naming it)."""
    return [f for f in asked if not any(states(f, x.text) for x in sentences)]
