"""Sentences of the abstracts: how an abstract is split, and the table of
their vectors embedded at ingest (so an answer reads stored vectors instead of
embedding the retrieved abstracts' sentences while the user waits).

The table is keyed by a hash of the sentence text: once an ingest has committed
it, an unchanged sentence is not embedded again by later ingests, and an abstract
replaced under the same paper id simply has other keys. (The table is written at
the commit: an interrupted ingest embeds its sentences again next time.) A
sentence missing from the table (an index built before the table existed, or with
`sentence_vectors` off) is embedded on demand by the answer engine."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

# A sentence ends at . ! or ? (plus closing quotes/brackets) followed by space and
# something that can start a sentence.
_BOUNDARY = re.compile(r"[.!?][\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_NOT_AN_END = re.compile(
    r"(?:\b(?:e\.g|i\.e|et al|vs|etc|cf|fig|figs|eq|eqs|sec|resp|approx|incl|w\.r\.t|i\.i\.d|no|dr|mr|ms|st)\.|"
    r"\b[A-Z]\.|\d\.)$",
    re.IGNORECASE,
)
MIN_SENTENCE = 12  # shorter pieces ("(Fig. 2).", "Why?") are glued to the previous sentence


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text` (stripped of surrounding space)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        piece = text[start : m.end()].rstrip()
        if _NOT_AN_END.search(piece):
            continue
        spans.append((start, start + len(piece)))
        start = m.end()
    if text[start:].strip():
        spans.append((start, len(text.rstrip())))
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        if merged and e - s < MIN_SENTENCE:
            merged[-1] = (merged[-1][0], e)
        elif e > s:
            merged.append((s, e))
    return merged


def sentences_of(text: str) -> list[str]:
    """The sentences of `text`, as `sentence_spans` cuts them."""
    return [text[s:e] for s, e in sentence_spans(text)]


def sentence_key(text: str) -> str:
    """The table's key of one sentence text."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:20]


def abstract_sentences(abstracts: Iterable[str]) -> list[str]:
    """Every distinct sentence of these abstracts, in first-seen order."""
    return list(dict.fromkeys(x for a in abstracts for x in sentences_of(a)))


@dataclass
class SentenceTable:
    """Stored sentence vectors: row i of `vectors` belongs to `keys[i]`."""

    keys: list[str]
    vectors: np.ndarray  # (n, dim) float32, L2-normalised; may be a read-only memory map

    def __post_init__(self) -> None:
        if len(self.keys) != len(self.vectors):
            raise ValueError(f"{len(self.keys)} keys for {len(self.vectors)} vectors")
        self.row = {k: i for i, k in enumerate(self.keys)}
        self._rows_of: dict[str, np.ndarray] = {}  # abstract text -> its stored sentences' rows

    @classmethod
    def empty(cls) -> SentenceTable:
        return cls([], np.zeros((0, 0), dtype=np.float32))

    def __len__(self) -> int:
        return len(self.keys)

    def lookup(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of those of `texts` the table holds, by text."""
        out: dict[str, np.ndarray] = {}
        for text in texts:
            i = self.row.get(sentence_key(text))
            if i is not None:
                out[text] = np.asarray(self.vectors[i], dtype=np.float32)
        return out

    def best_match(
        self, abstract: str, vector: np.ndarray, aggregate: Callable[[np.ndarray], float] | None = None
    ) -> float | None:
        """The highest cosine between `vector` and the stored sentences of `abstract`
        (None when none is stored); `aggregate`: another score of the cosines, sorted
        highest first (experiments compare ways of scoring a paper by its sentences)."""
        rows = self._rows_of.get(abstract)
        if rows is None:  # a benign race between threads: both compute the same rows
            found = (self.row.get(sentence_key(x)) for x in sentences_of(abstract))
            rows = self._rows_of[abstract] = np.array([i for i in found if i is not None], dtype=np.int64)
        if not len(rows):
            return None
        cosines = self.vectors[rows] @ vector
        return float(np.max(cosines)) if aggregate is None else float(aggregate(np.sort(cosines)[::-1]))

    def plan(self, texts: Sequence[str]) -> SentencePlan:
        """Which of `texts` (distinct) the table holds already; `build` makes the new table."""
        keys = [sentence_key(t) for t in texts]
        return SentencePlan(list(texts), keys, np.array([self.row.get(k, -1) for k in keys], dtype=np.int64))

    def build(self, plan: SentencePlan, embed: Callable[[list[str]], np.ndarray]) -> SentenceTable:
        """A table of exactly the plan's texts: stored rows copied, the new texts embedded with `embed`."""
        new = plan.new
        fresh = embed(new) if new else np.zeros((0, 0), dtype=np.float32)
        dim = fresh.shape[1] if new else (self.vectors.shape[1] if len(self) else 0)
        out = np.zeros((len(plan.keys), dim), dtype=np.float32)
        kept = plan.rows >= 0
        if kept.any():
            out[kept] = self.vectors[plan.rows[kept]]
        if new:
            out[~kept] = fresh
        return SentenceTable(plan.keys, out)


@dataclass
class SentencePlan:
    """Sentences to store, with their keys and their rows in the current table (-1: new)."""

    texts: list[str]
    keys: list[str]
    rows: np.ndarray

    @property
    def new(self) -> list[str]:
        return [t for t, r in zip(self.texts, self.rows) if r < 0]
