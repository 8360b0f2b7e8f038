"""Do the stored sentence vectors pick the sentences that answer? Measured with
SciFact's rationales (the sentences annotators marked as supporting or refuting
each claim), on an index of the SciFact corpus built by `papers eval --dataset
beir:...` (any `sentence_embedding`, any precision).

For every claim of the split that has rationales, two numbers:

* **top sentence**: among the sentences of each gold abstract (as the project
  splits them), the one whose stored vector is closest to the claim overlaps a
  rationale sentence (the ranking the sentence table gives on its own);
* **answer quotes a rationale**: `pa.ask(claim)` (extractive) quotes at least one
  rationale sentence of a gold abstract (the whole answer path: search with sentence
  fusion, evidence, abstention).

A quote and a rationale sentence "overlap" when one contains the other after
whitespace is collapsed, or they share at least 60% of the shorter one's words
(SciFact's sentence split differs from ours). Tune on `train`; `test` reads the
claims of SciFact's dev split.

    HF_HUB_OFFLINE=1 .venv/bin/python -m evals.experiments.rationale_sentences \\
        --dataset ../shared/benchmarks/scifact --index-dir evals/runs/beir-indexes --index-name scifact \\
        [--split train] [--limit N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from assistant import jsonl
from evals.metrics import same_sentence

overlaps = same_sentence  # kept under the name the figures in docs/benchmarks.md were made with


def claims_with_rationales(folder: Path, split: str) -> list[dict]:
    from evals.beir import CLAIM_SPLITS

    wanted = CLAIM_SPLITS[split]
    out = []
    for _, claim in jsonl.objects(folder / "claims.jsonl"):
        if claim["split"] == wanted and claim.get("evidence"):
            out.append(claim)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.experiments.rationale_sentences",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dataset", type=Path, required=True, help="the SciFact folder (with claims.jsonl)")
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--index-name", required=True)
    parser.add_argument("--split", default="train")
    parser.add_argument("--limit", type=int, default=0, help="first N claims only")
    args = parser.parse_args(argv)

    import numpy as np

    from assistant.api import PaperAssistant
    from assistant.index.sentences import sentences_of
    from assistant.settings import Settings
    from evals.beir import load_beir

    ds = load_beir(args.dataset, split=args.split)  # its paper ids are the ones ingestion gave
    claims = claims_with_rationales(args.dataset, args.split)[: args.limit or None]
    pa = PaperAssistant(Settings(index_dir=args.index_dir, index_name=args.index_name))
    index = pa.index
    by_id = {p.id: p for p in index.papers}
    table = index.sentences
    top_hits = top_n = answer_hits = 0
    for claim in claims:
        question = claim["question"]
        q = index.embedder.embed_query(question)
        rationales = []
        for ev in claim["evidence"]:
            paper = by_id.get(ds.paper_id(str(ev["doc_id"])))
            if paper is None:
                continue
            rationales += ev["sentences"]
            sentences = sentences_of(paper.abstract)
            stored = table.lookup(sentences)
            vectors = [stored.get(s) for s in sentences]
            if not sentences or any(v is None for v in vectors):
                continue
            best = sentences[int(np.argmax(np.vstack(vectors) @ q))]
            top_n += 1
            top_hits += any(overlaps(best, r) for r in ev["sentences"])
        answer = pa.ask(question)
        quotes = [c.quote for c in answer.citations if c.quote]
        answer_hits += (not answer.abstained) and any(overlaps(qt, r) for qt in quotes for r in rationales)
    settings = index.manifest or {}
    print(
        f"index {args.index_dir / args.index_name}: sentence_embedding={settings.get('sentence_embedding')}, "
        f"precision={settings.get('embed_precision')}"
    )
    print(f"split {args.split}: {len(claims)} claims with rationales")
    print(f"top sentence overlaps a rationale: {top_hits}/{top_n} = {top_hits / max(top_n, 1):.3f}")
    print(f"answer quotes a rationale: {answer_hits}/{len(claims)} = {answer_hits / max(len(claims), 1):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
