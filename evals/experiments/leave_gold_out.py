"""Leave-gold-out: turn answerable lookups into "topic absent" near misses.

The golden set has few topic-absent unanswerables (a lookup for an in-domain topic
no indexed paper covers). For every lookup of a split, this computes the evidence
twice: as it is (answerable), and with its gold papers left out of the retrieved
set (the question now asks for a paper the collection lacks, while its neighbours
stay in-domain). It prints, for each candidate abstention signal, how well it
separates the two (ROC AUC) and the real unanswerable items' values beside them.
Nothing here is used by the product; docs/evaluation.md reports the result.

    HF_HUB_OFFLINE=1 .venv/bin/python -m evals.experiments.leave_gold_out [--split dev] [--index-dir DIR]
"""

from __future__ import annotations

import sys

import numpy as np

from evals.experiments import setup
from evals.harness import load_golden


def signals(pa, question: str, leave_out: set[str]) -> dict[str, float]:
    result = pa.search(question, k=20)
    keep = [h.paper_id for h in result.hits if h.paper_id not in leave_out]
    evidence = pa.engine.evidence(question, restrict=keep)
    hits = [h for h in result.hits if h.paper_id not in leave_out]
    s1 = hits[0].sentence_score or 0.0
    s2 = (hits[1].sentence_score or 0.0) if len(hits) > 1 else 0.0
    return {
        "confidence": evidence.confidence,
        "sentence_match": evidence.signals.get("sentence_match", 0.0),
        "coverage": evidence.signals.get("coverage", 0.0),
        "best_sentence": s1,
        "sentence_gap": s1 - s2,
        "fused_score": hits[0].score,
        "fused_gap": hits[0].score - (hits[1].score if len(hits) > 1 else 0.0),
    }


def auc(pos: list[float], neg: list[float]) -> float:
    """P(a random answerable value > a random topic-absent one); ties count half."""
    p, n = np.array(pos)[:, None], np.array(neg)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def main(argv: list[str] | None = None) -> int:
    args, pa = setup("evals.experiments.leave_gold_out", __doc__, argv)
    items = load_golden(split=args.split)
    lookups = [i for i in items if i.type == "lookup" and i.gold]
    kept = [signals(pa, i.question, set()) for i in lookups]
    left = [signals(pa, i.question, set(i.gold)) for i in lookups]
    absent = [signals(pa, i.question, set()) for i in items if i.type == "unanswerable"]
    print(
        f"{args.split}: {len(lookups)} lookups, each with and without its gold papers; {len(absent)} real unanswerables"
    )
    print("| signal | AUC (lookup vs gold left out) | lookups p10 / p50 | left out p50 / p90 | real unanswerable p50 |")
    print("|---|---:|---|---|---:|")
    for name in kept[0]:
        a, b, c = ([r[name] for r in rows] for rows in (kept, left, absent))
        print(
            f"| {name} | {auc(a, b):.3f} | {np.percentile(a, 10):.3f} / {np.median(a):.3f} | "
            f"{np.median(b):.3f} / {np.percentile(b, 90):.3f} | {np.median(c):.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
