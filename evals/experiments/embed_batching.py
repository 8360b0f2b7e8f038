"""How the local embedder should batch on this CPU: batch size, threads, precision,
and what sorting texts by length saves, on real texts of the bundled corpus (its
titled chunks and its abstract sentences, the two kinds an ingest embeds).

Each configuration embeds the same texts once after a warm-up; prints seconds, word
pieces/s and the padding share. "unsorted" feeds the texts in corpus order (batches
padded to their longest text), as a plain `model.encode(texts)` loop would.

    HF_HUB_OFFLINE=1 .venv/bin/python -m evals.experiments.embed_batching [--chunks 512] [--sentences 2000]
"""

from __future__ import annotations

import argparse
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.experiments.embed_batching",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--chunks", type=int, default=512)
    parser.add_argument("--sentences", type=int, default=2000)
    args = parser.parse_args(argv)

    import os

    import numpy as np

    from assistant.index.chunking import chunk_paper
    from assistant.index.embed import LocalEmbedder
    from assistant.index.sentences import abstract_sentences
    from assistant.ingest import ingest_paths
    from assistant.settings import Settings

    settings = Settings()
    papers = ingest_paths([settings.corpus_dir]).papers
    chunks = [c.indexed_text for p in papers for c in chunk_paper(p, settings.chunk_size, settings.chunk_overlap, "x")]
    sentences = abstract_sentences(p.abstract for p in papers)
    rng = np.random.default_rng(0)
    sets = {
        "chunks": [chunks[i] for i in rng.permutation(len(chunks))[: args.chunks]],
        "sentences": [sentences[i] for i in rng.permutation(len(sentences))[: args.sentences]],
    }
    cores = len(os.sched_getaffinity(0))
    configs = [
        ("bf16", 16, cores, True),
        ("bf16", 32, cores, True),
        ("bf16", 64, cores, True),
        ("bf16", 128, cores, True),
        ("bf16", 64, 1, True),
        ("bf16", 64, cores, False),
        ("fp32", 64, cores, True),
    ]
    print(f"{len(sets['chunks'])} chunks, {len(sets['sentences'])} sentences; {cores} cores")
    print("| precision | batch | threads | order | kind | s | pieces/s | padding |")
    print("|---|---:|---:|---|---|---:|---:|---:|")
    for precision, batch, threads, ordered in configs:
        embedder = LocalEmbedder(Settings(embed_precision=precision, embed_batch_size=batch, embed_threads=threads))
        embedder.load_document_model()
        embedder.embed_documents(sets["sentences"][:64])  # warm up
        for kind, texts in sets.items():
            embedder.pieces = embedder.positions = 0
            t = time.perf_counter()
            if ordered:
                embedder.embed_documents(texts)
            else:  # corpus order: each batch padded to its own longest text
                for i in range(0, len(texts), batch):
                    embedder.embed_documents(texts[i : i + batch])
            seconds = time.perf_counter() - t
            print(
                f"| {precision} | {batch} | {threads} | {'by length' if ordered else 'unsorted'} | {kind} | "
                f"{seconds:.1f} | {embedder.pieces / seconds:,.0f} | "
                f"{1 - embedder.pieces / embedder.positions:.1%} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
