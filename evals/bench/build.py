"""Index builds: the bundled corpus (ours, and LlamaIndex's default path over the same
abstracts), the BEIR SciFact corpus, and the synthetic scale corpora.

The time per part of a build is what the project measures itself (`LibraryUpdate.timings`
of `PaperAssistant.ingest`, `UpdateStats.timings` of `PaperIndex.update`); for the
LlamaIndex path, the embedding time comes from LlamaIndex's own callback manager."""

from __future__ import annotations

import importlib
import shutil
import time
from pathlib import Path

from evals.bench import QUERIES
from evals.bench.common import bar, bench_settings, dir_mib, percentile
from evals.bench.sampling import Stage
from evals.bench.synthetic import SyntheticEmbedder, base_corpus, dump_paper_vectors, synthetic_papers

HEAVY = ["torch", "transformers", "chromadb", "llama_index.core", "bm25s", "assistant.api"]


def import_heavy(record: dict, modules: list[str]) -> None:
    """Import what the step needs first, so the build's wall time leaves imports out."""
    with Stage(record, "imports"):
        for name in modules:
            importlib.import_module(name)


def ingest_breakdown(wall: float, open_s: float, update) -> dict[str, float]:
    """Seconds per part of `PaperAssistant(settings)` + `.ingest(...)`: opening, parsing,
    each stage of the index update, calibration, and what is left ("other")."""
    parts = {"open": open_s, **{k: v for k, v in update.timings.items() if k != "index"}}
    if update.index is not None:
        parts.update(update.index.timings)
    parts["other"] = wall - sum(parts.values())
    return parts


def embed_seconds(breakdown: dict[str, float]) -> float:
    """The model's share of a build: both embedding passes (model load apart)."""
    return breakdown.get("embed chunks", 0.0) + breakdown.get("embed sentences", 0.0)


def cold_build(args, record: dict, settings, paths: list):
    """`PaperAssistant(settings).ingest(paths)` into an empty folder, with the time per part."""
    import torch

    from assistant.api import PaperAssistant

    shutil.rmtree(settings.index_dir, ignore_errors=True)  # a cold build, also when a step is retried
    progress = bar(args.progress, desc="embed (MiniLM)", unit="char", unit_scale=True)

    def embed_progress(done: int, total: int) -> None:
        progress.total = total
        progress.n = done
        progress.refresh()

    with Stage(record, "cold build") as stage:
        t = time.perf_counter()
        pa = PaperAssistant(settings)
        open_s = time.perf_counter() - t
        _, update = pa.ingest(paths, embed_progress=embed_progress)
    progress.close()
    stats = update.index
    breakdown = ingest_breakdown(stage.seconds, open_s, update)
    embedder = pa.index.embedder
    record.update(
        {
            "papers": len(pa.papers),
            "chunks": len(pa.index.chunks),
            "records": len(pa.index.records),
            "embedded": stats.embedded,
            "sentences_embedded": stats.sentences_embedded,
            "sentences_pooled": stats.sentences_pooled,
            "seconds": stage.seconds,
            "breakdown": breakdown,
            "embed_s": embed_seconds(breakdown),
            "embed_tokens": embedder.pieces,
            "embed_positions": embedder.positions,
            "embed_flops": embedder.flops,
            "precision": embedder.precision,
            "sentence_embedding": settings.sentence_embedding,
            "embed_batch_size": embedder.batch_size,
            "chunk_size": settings.chunk_size,
            "chunk_overlap": settings.chunk_overlap,
            "torch_threads": torch.get_num_threads(),
            "index_mib": dir_mib(settings.index_path),
        }
    )
    return pa


def worker_bundled_build(args, record: dict) -> None:
    """Cold build of the bundled corpus with the real model and the default settings
    (sentence vectors included); dumps per-paper vectors for the synthetic scale points."""
    import_heavy(record, HEAVY)
    settings = bench_settings(args, "bundled", sentence_vectors=True)
    pa = cold_build(args, record, settings, [settings.corpus_dir])
    dump_paper_vectors(Path(args.workdir), pa)


def worker_scifact_build(args, record: dict) -> None:
    """Cold build of the BEIR SciFact corpus (5,183 abstracts, read from --scifact) with
    the default settings and the real model."""
    import_heavy(record, HEAVY)
    from evals.beir import load_beir, to_jsonl_records

    ds = load_beir(Path(args.scifact), "test")
    records = to_jsonl_records(ds, Path(args.workdir) / "scifact-corpus.jsonl")
    settings = bench_settings(args, "scifact", sentence_vectors=True)
    cold_build(args, record, settings, [records])
    record["documents"] = len(ds.corpus)


def _token_count(tokenizer, texts: list[str], max_length: int) -> int:
    """MiniLM word pieces the model actually reads (after its truncation)."""
    total = 0
    for i in range(0, len(texts), 512):
        enc = tokenizer(texts[i : i + 512], add_special_tokens=True, truncation=True, max_length=max_length)
        total += sum(len(ids) for ids in enc["input_ids"])
    return total


def worker_llamaindex(args, record: dict) -> None:
    """LlamaIndex's default path over the same abstracts (title + abstract as Documents):
    `VectorStoreIndex.from_documents` with `HuggingFaceEmbedding` of the same MiniLM."""
    import_heavy(record, ["torch", "sentence_transformers", "llama_index.core", "llama_index.embeddings.huggingface"])
    import torch
    import transformers
    from llama_index.core import Document, VectorStoreIndex
    from llama_index.core.callbacks import CallbackManager, CBEventType, LlamaDebugHandler
    from llama_index.core.schema import MetadataMode
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    from assistant.index.embed import local_model_path
    from assistant.ingest import ingest_paths
    from assistant.settings import Settings

    transformers.utils.logging.set_verbosity_error()  # over-long nodes are counted below
    papers = ingest_paths([Settings().corpus_dir]).papers  # same parser, untimed
    docs = [Document(text=f"{p.title}\n{p.abstract}") for p in papers]
    # LlamaIndex's own record of its embedding calls. The index hands its callback
    # manager to the embedding model (resolve_embed_model), so it goes to both.
    events = LlamaDebugHandler(print_trace_on_end=False)
    callbacks = CallbackManager([events])
    with Stage(record, "cold build") as stage:
        t = time.perf_counter()
        embed_model = HuggingFaceEmbedding(model_name=str(local_model_path()), device="cpu", callback_manager=callbacks)
        load = time.perf_counter() - t
        index = VectorStoreIndex.from_documents(
            docs, embed_model=embed_model, callback_manager=callbacks, show_progress=args.progress
        )
    embed = events.get_event_time_info(CBEventType.EMBEDDING).total_secs
    if not embed:
        raise SystemExit("LlamaIndex reported no embedding events: its callback manager was not used")
    nodes = list(index.docstore.docs.values())
    texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    model = embed_model._model
    breakdown = {"model load": load, "embed": embed, "split + store + other": stage.seconds - load - embed}
    record.update(
        {
            "papers": len(docs),
            "chunks": len(nodes),
            "seconds": stage.seconds,
            "breakdown": breakdown,
            "embed_s": embed,
            "embed_tokens": _token_count(model.tokenizer, texts, model.max_seq_length),
            "embed_batch_size": embed_model.embed_batch_size,
            "torch_threads": torch.get_num_threads(),
            "chunks_truncated": sum(1 for t in texts if len(model.tokenizer(t)["input_ids"]) > model.max_seq_length),
        }
    )
    # Extra context (not comparable to hybrid search): dense-only retrieval latency
    # of that in-memory index, after one warm-up query.
    retriever = index.as_retriever(similarity_top_k=10)
    retriever.retrieve(QUERIES[0])
    walls = []
    for q in QUERIES[: args.queries]:
        t = time.perf_counter()
        retriever.retrieve(q)
        walls.append((time.perf_counter() - t) * 1000)
    record["retrieve_dense_only"] = {
        "p50_ms": percentile(walls, 50),
        "p95_ms": percentile(walls, 95),
        "searches": len(walls),
    }


def worker_scale_build(args, record: dict) -> None:
    """`PaperIndex(settings, embedder=SyntheticEmbedder).update(records)` of a synthetic
    corpus of --size chunks: the project's chunking, Chroma writes, BM25 and commit."""
    import_heavy(record, ["chromadb", "llama_index.core", "bm25s", "assistant.api"])
    from assistant.index import PaperIndex

    size = args.size
    settings = bench_settings(args, f"scale-{size}")
    shutil.rmtree(settings.index_dir, ignore_errors=True)  # a cold build, also when a step is retried
    base, base_vectors = base_corpus(Path(args.workdir), settings)
    with Stage(record, "generate corpus"):
        papers, vectors, chunks = synthetic_papers(
            base, base_vectors, None, size, args.seed, str(size), settings, args.progress
        )
    embedder = SyntheticEmbedder(settings, vectors)
    with Stage(record, "build") as stage:
        t = time.perf_counter()
        index = PaperIndex(settings, embedder=embedder)
        open_s = time.perf_counter() - t
        stats = index.update(papers)
    breakdown = {"open": open_s, **stats.timings}
    breakdown["other"] = stage.seconds - sum(breakdown.values())
    record.update(
        {
            "papers": len(papers),
            "chunks": stats.chunks,
            "embedded": stats.embedded,
            "seconds": stage.seconds,
            "breakdown": breakdown,
            "index_mib": dir_mib(settings.index_path),
            "n_papers": len(papers),
            "vectors": "synthetic",
        }
    )
