"""The lexical half of the index: BM25 (bm25s) over the same chunk texts
(title + chunk), saved beside the vector store.

Own code on bm25s rather than LlamaIndex's BM25Retriever (llama-index-retrievers-bm25, also
on bm25s): search needs scores by chunk position with a filter mask and the plural folding
below, saved in the index's generation folders; the retriever returns nodes from its own
docstore and persists on its own."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

_WORD = re.compile(r"(?u)\b\w\w+\b")
_SUFFIXES = ("ies", "es", "s")


def _stem(word: str) -> str:
    # A light plural folding (models -> model, studies -> study); enough to
    # stop BM25 missing the obvious matches, without a stemmer dependency.
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith("sses"):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS_EN]


class Bm25Chunks:
    def __init__(self, retriever, vocab: dict[str, int]):
        self.retriever = retriever
        self.vocab = vocab

    @classmethod
    def build(cls, texts: Sequence[str]) -> Bm25Chunks:
        import bm25s

        vocab: dict[str, int] = {}
        corpus_ids = [[vocab.setdefault(tok, len(vocab)) for tok in tokenize(t)] for t in texts]
        retriever = bm25s.BM25()
        retriever.index(bm25s.tokenization.Tokenized(ids=corpus_ids, vocab=vocab), show_progress=False)
        return cls(retriever, vocab)

    def save(self, folder: Path) -> None:
        import json

        self.retriever.save(str(folder))
        (folder / "vocab.json").write_text(json.dumps(self.vocab), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Bm25Chunks:
        import json

        import bm25s

        retriever = bm25s.BM25.load(str(folder), mmap=False)
        vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        return cls(retriever, vocab)

    def query(self, text: str, k: int, mask: np.ndarray | None = None) -> list[tuple[int, float]]:
        """(chunk position, BM25 score) best first; only positive scores."""
        ids = [self.vocab[t] for t in tokenize(text) if t in self.vocab]
        if not ids or k <= 0:
            return []
        scores = self.retriever.get_scores_from_ids(ids, weight_mask=mask)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]
