"""Does the title belong in every chunk's vector? Dense retrieval alone, on a built
index, with the stored chunk vectors (embedded as "title, newline, chunk text", the
project's format) against the same chunks embedded without the title, and against
chunk vectors composed without a chunk pass at all: the piece-weighted mean of the
title's vector and the stored (separately embedded) vectors of the sentences the chunk
overlaps ("composed"; if it ranked as well, an ingest could skip the chunk pass).

Papers are ranked by their best chunk's cosine to the question (brute force, no
Chroma, no BM25 or sentence fusion: the title's effect on the vectors alone). Prints
hit@1, hit@10, MRR and nDCG@10 of the three, and how many word pieces the titles cost.

    HF_HUB_OFFLINE=1 .venv/bin/python -m evals.experiments.title_in_chunks --split dev
    HF_HUB_OFFLINE=1 .venv/bin/python -m evals.experiments.title_in_chunks \\
        --dataset beir:../shared/benchmarks/scifact --split train \\
        --index-dir evals/runs/beir-indexes --index-name scifact
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.experiments.title_in_chunks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dataset", default="golden", help="'golden' or beir:FOLDER")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--index-dir", type=Path, help="default: the settings' index_dir")
    parser.add_argument("--index-name", default="default")
    args = parser.parse_args(argv)

    import numpy as np

    from assistant.index import PaperIndex
    from assistant.settings import Settings
    from evals import harness
    from evals import metrics as M

    if args.dataset.startswith("beir:"):
        items, _, _ = harness.load_beir_items(Path(args.dataset[5:]), args.split)
    else:
        items = harness.load_golden(harness.GOLDEN, args.split)
    items = [i for i in items if i.gold]
    settings = Settings(index_name=args.index_name, **({"index_dir": args.index_dir} if args.index_dir else {}))
    index = PaperIndex(settings)
    chunks = index.chunks
    stored = index.vectors.vectors([c.id for c in chunks])
    with_title = np.vstack([stored[c.id] for c in chunks])
    embedder = index.embedder
    before = embedder.pieces
    without_title = embedder.embed_documents([c.text for c in chunks])
    pieces_without = embedder.pieces - before
    title_pieces = sum(embedder.count_pieces([c.title + "\n" for c in chunks]))
    from assistant.index.sentences import sentence_spans

    table = index.sentences
    title_vectors = dict(
        zip(sorted({c.title for c in chunks}), embedder.embed_documents(sorted({c.title for c in chunks})))
    )
    composed = np.zeros_like(with_title)
    for row, c in enumerate(chunks):
        abstract = index.paper_by_id[c.paper_id].abstract
        parts = [abstract[a:b] for a, b in sentence_spans(abstract) if a < c.end and b > c.start]
        stored_parts = table.lookup(parts)
        weights = embedder.count_pieces([c.title] + parts)
        total = weights[0] * title_vectors[c.title]
        for part, w in zip(parts, weights[1:]):
            if part in stored_parts:
                total = total + w * stored_parts[part]
        composed[row] = total / np.linalg.norm(total)
    owner = np.array([c.paper_id for c in chunks], dtype=object)
    papers = sorted(set(owner))
    rows_of = {p: np.flatnonzero(owner == p) for p in papers}

    def ranked(matrix: np.ndarray, q: np.ndarray) -> list[str]:
        sims = matrix @ q
        best = {p: float(sims[rows].max()) for p, rows in rows_of.items()}
        return sorted(best, key=lambda p: -best[p])

    print(
        f"{args.dataset} {args.split}: {len(items)} questions with gold papers; {len(chunks)} chunks; "
        f"titles add {title_pieces:,} word pieces to {pieces_without:,} ({title_pieces / pieces_without:.1%})"
    )
    for name, matrix in (("title + chunk (stored)", with_title), ("chunk only", without_title), ("composed", composed)):
        scores = [M.retrieval_metrics(ranked(matrix, embedder.embed_query(i.question)), i.gold) for i in items]
        mean = {k: sum(s[k] for s in scores) / len(scores) for k in ("hit@1", "hit@10", "mrr", "ndcg@10")}
        print(f"  {name:24s} " + "  ".join(f"{k} {v:.3f}" for k, v in mean.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
