"""TEST INFRASTRUCTURE ONLY - never shipped with, or imported by, the product.

`HashingFakeEmbedder`: a FAKE embedding model. It is not MiniLM and knows nothing of
meaning: a text's vector is its bag of lower-cased words and of their character
trigrams, each feature hashed (BLAKE2b, so the same in every process) to one of 384
signed buckets, then L2-normalised. Texts that share words get a positive cosine,
identical texts get cosine 1, and it costs microseconds instead of a model.

It is used wherever ranking or answer quality is NOT what a test judges: ingest
bookkeeping, the index store, faults, CLI output and exit codes, settings, filter
mechanics, UI rendering. A test that judges ranking or answers keeps the real model
(the `embedder` fixture in tests/conftest.py) and is marked slow.

It satisfies the `Embedder` protocol of assistant/index/embed.py (`name`, `dim`,
`embed_documents(texts, progress)`, `embed_query(text)`) and is handed to the product
through its seams: `PaperIndex(settings, embedder=...)`,
`PaperAssistant(settings, embedder=...)`, `PaperAssistant.rebuild(..., embedder=...)`.
An index built with it must say so: build it with `FAKE_SETTINGS` (embed_backend
"openai", embed_model FAKE_MODEL) so that nothing can open it with the real local
model by mistake (the shaping check refuses), and so that a `papers` process can
reach the same vectors through an OpenAI-compatible /v1/embeddings route serving this
embedder (tests/llm_server.py: `server.embedder = HashingFakeEmbedder()`).

`Scripted` wraps an embedder to act at a chosen call (raise, or signal and block so a
test can SIGKILL the process at a known stage of an ingest)."""

from __future__ import annotations

import hashlib
import re
from typing import Callable, Sequence

import numpy as np

FAKE_MODEL = "fake-hashing-ngrams-384"
# The settings that name the fake model (see the module docstring).
FAKE_SETTINGS = {"embed_backend": "openai", "embed_model": FAKE_MODEL}

_WORD = re.compile(r"\w+")


class HashingFakeEmbedder:
    """Hashed bag of words and character trigrams, 384 dimensions, L2-normalised. FAKE:
    see the module docstring."""

    name = FAKE_MODEL
    dim = 384

    def __init__(self) -> None:
        self._features: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.calls: list[tuple[str, int]] = []  # ("documents", n texts) / ("query", 1), in order

    def _word(self, word: str) -> tuple[np.ndarray, np.ndarray]:
        """Bucket indices and signs of one word's features (the word, weight 2, and its trigrams)."""
        hit = self._features.get(word)
        if hit is None:
            padded = f"<{word}>"
            grams = [padded[i:i + 3] for i in range(max(1, len(padded) - 2))]
            feats = [("w", word)] * 2 + [("g", g) for g in grams]
            idx, sign = [], []
            for kind, text in feats:
                digest = hashlib.blake2b(f"{kind}:{text}".encode(), digest_size=8).digest()
                value = int.from_bytes(digest, "little")
                idx.append(value % self.dim)
                sign.append(1.0 if (value >> 32) & 1 else -1.0)
            hit = self._features[word] = (np.array(idx, dtype=np.int64), np.array(sign, dtype=np.float32))
        return hit

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for word in _WORD.findall(text.lower()):
            idx, sign = self._word(word)
            np.add.at(v, idx, sign)
        norm = float(np.linalg.norm(v))
        if norm == 0.0:  # no word at all: a fixed unit vector (the real models give one too)
            v[0], norm = 1.0, 1.0
        return v / norm

    def embed_documents(self, texts: Sequence[str],
                        progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        self.calls.append(("documents", len(texts)))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self._vector(text)
        if progress and len(texts):
            progress(len(texts), sum(map(len, texts)))
        return out

    def embed_query(self, text: str) -> np.ndarray:
        self.calls.append(("query", 1))
        return self._vector(text)


class Scripted:
    """An embedder that passes calls to `inner` until its `at`-th call of
    `embed_documents` (1-based), where it runs `action()` first (which may raise, or
    block); `at=None` never acts. In an ingest the first documents call embeds the new
    chunks (before they are added to the vector store) and the second the new abstract
    sentences (after the add, before anything is committed)."""

    def __init__(self, inner, at: int | None, action: Callable[[], None]):
        self.inner, self.at, self.action = inner, at, action
        self.name, self.dim = inner.name, inner.dim
        self.document_calls = 0

    def embed_documents(self, texts, progress=None):
        self.document_calls += 1
        if self.document_calls == self.at:
            self.action()
        return self.inner.embed_documents(texts, progress)

    def embed_query(self, text):
        return self.inner.embed_query(text)


def fake_model_env(server) -> dict[str, str]:
    """Environment for a `papers` command (in a new process or in-process) that opens an
    index built with the fake: the model named as it was built, its vectors served by the
    test server's /v1/embeddings (tests/llm_server.py), no LLM."""
    return {"PAPERS_EMBED_BACKEND": FAKE_SETTINGS["embed_backend"], "PAPERS_EMBED_MODEL": FAKE_MODEL,
            "OPENAI_BASE_URL": server.url + "/v1", "PAPERS_LLM_ENABLED": "false",
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
