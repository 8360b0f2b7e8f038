"""Retrieval variants tried for hit@5 in session 4 and not adopted (docs/evaluation.md).

On a golden split (dev by default), with the configured index, prints hit@1/5/10 and MRR of
1. other ways to score the sentence ranking than a paper's best sentence: the mean of its
   top two or three sentence cosines, best plus half the second, a soft maximum
   (log-sum-exp at temperature 1/20); each at sentence_weight 1 and 2;
2. dense pseudo-relevance feedback: the query vector moved towards the mean chunk vector of
   the first 1 or 3 hits (weight alpha), normalised, then searched again.

    HF_HUB_OFFLINE=1 .venv/bin/python -m evals.experiments.retrieval_variants [--split dev] [--index-dir DIR]
"""

from __future__ import annotations

import sys

import numpy as np

from evals import metrics as M
from evals.experiments import setup
from evals.harness import load_golden

AGGREGATES = {
    "max": lambda s: s[0],
    "top2mean": lambda s: s[:2].mean(),
    "max+0.5second": lambda s: s[0] + 0.5 * (s[1] if len(s) > 1 else 0.0),
    "top3mean": lambda s: s[:3].mean(),
    "softmax": lambda s: np.log(np.exp(s * 20).sum()) / 20,
}


def _mean_metrics(rows: list[dict]) -> str:
    m = {k: M.mean([r[k] for r in rows]) for k in rows[0]}
    return " ".join(f"{k} {m[k]:.3f}" for k in ("hit@1", "hit@5", "hit@10", "mrr"))


def main(argv: list[str] | None = None) -> int:
    args, pa = setup("evals.experiments.retrieval_variants", __doc__, argv)
    from assistant.retrieve import search

    items = [i for i in load_golden(split=args.split) if i.gold]

    for name, aggregate in AGGREGATES.items():
        for weight in (1.0, 2.0):
            variant = pa.settings.model_copy(update={"sentence_weight": weight})
            rows = [
                M.retrieval_metrics(
                    [
                        h.paper_id
                        for h in search(pa.index, i.question, k=10, settings=variant, sentence_aggregate=aggregate).hits
                    ],
                    i.gold,
                )
                for i in items
            ]
            print(f"sentence ranking by {name:14s} weight {weight}: {_mean_metrics(rows)}")

    for alpha, depth in ((0.0, 3), (0.3, 1), (0.3, 3), (0.6, 3), (1.0, 3)):
        rows = []
        for i in items:
            first = pa.search(i.question, k=10)
            hits = first.hits
            if alpha:
                ids = [h.chunks[0].chunk.id for h in hits[:depth]]
                stored = pa.index.vectors.vectors(ids)
                moved = first.query_vector + alpha * np.mean([stored[c] for c in ids], axis=0)
                hits = search(pa.index, i.question, k=10, query_vector=moved / np.linalg.norm(moved)).hits
            rows.append(M.retrieval_metrics([h.paper_id for h in hits], i.gold))
        print(f"pseudo-relevance feedback alpha {alpha} over {depth} hit(s): {_mean_metrics(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
