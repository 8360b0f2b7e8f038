"""Tune retrieval fusion on the dev split of the golden set.

Grid over the fusion settings (dense/BM25 weights, RRF constant, candidates per
retriever); every configuration runs `search` for each dev item with gold papers
and is scored by MRR, then hit@5 (evals/metrics.py). Only dev is used to choose;
`--report-test` prints the chosen configuration's test numbers for the record.

    HF_HUB_OFFLINE=1 .venv/bin/python -m evals.tune [--index-dir DIR] [--report-test]
        [--grid sentence_weight=0,1,2 --grid rrf_k=60]   # replace or add grid axes
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

from evals import metrics as M
from evals.harness import load_golden

GRID = {
    "dense_weight": [1.0, 1.5, 2.0],
    "bm25_weight": [0.5, 1.0],
    "rrf_k": [10.0, 30.0, 60.0],
    "candidates": [60, 120],
    "sentence_weight": [0.0, 1.0],
}


SEARCH_SETTINGS = (
    "dense_weight",
    "bm25_weight",
    "rrf_k",
    "candidates",
    "sentence_weight",
    "chunks_per_hit",
    "mmr",
    "mmr_lambda",
)


def grid_axis(text: str) -> tuple[str, list]:
    """'name=v1,v2' -> (name, values), each value validated as that setting."""
    from assistant.settings import Settings

    name, _, values = text.partition("=")
    if name not in SEARCH_SETTINGS or not values:
        raise argparse.ArgumentTypeError(
            f"expected SETTING=V1,V2,... with SETTING one of {', '.join(SEARCH_SETTINGS)} "
            f"(settings read at search time; the index is not rebuilt), got {text!r}"
        )
    try:
        return name, [getattr(Settings(**{name: v}), name) for v in values.split(",")]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text}: {exc}") from None


def score(pa, items, overrides: dict) -> dict:
    """Mean retrieval metrics of `items` with these settings (the index is reused)."""
    variant = pa.settings.model_copy(update=overrides)
    rows = [
        M.retrieval_metrics([h.paper_id for h in pa.search(i.question, k=10, settings=variant).hits], i.gold)
        for i in items
        if i.gold
    ]
    return {key: M.mean([r[key] for r in rows]) for key in rows[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.tune", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--index-dir",
        type=Path,
        help="index folder (default: PAPERS_INDEX_DIR, else indexes in the per-user data folder)",
    )
    parser.add_argument("--report-test", action="store_true", help="also print the chosen setting on test")
    parser.add_argument(
        "--grid",
        type=grid_axis,
        action="append",
        default=[],
        metavar="SETTING=V1,V2",
        help="values to try for one setting (replaces that axis of the default grid, or adds one)",
    )
    args = parser.parse_args(argv)
    grid = {**GRID, **dict(args.grid)}

    from assistant.api import PaperAssistant
    from assistant.settings import Settings

    pa = PaperAssistant.open(Settings(**({"index_dir": args.index_dir} if args.index_dir else {})), llm=False)
    dev = load_golden(split="dev")
    names = list(grid)
    results = []
    for values in itertools.product(*(grid[n] for n in names)):
        overrides = dict(zip(names, values))
        results.append((overrides, score(pa, dev, overrides)))
    results.sort(key=lambda r: (r[1]["mrr"], r[1]["hit@5"], r[1]["hit@1"]), reverse=True)
    current = {n: getattr(pa.settings, n) for n in names}
    print("| " + " | ".join(names) + " | hit@1 | hit@5 | hit@10 | MRR | nDCG@10 |")
    print("|" + "---|" * (len(names) + 5))
    for overrides, m in results[:12] + [(current, score(pa, dev, current))]:
        mark = " (current)" if overrides == current else ""
        print(
            "| "
            + " | ".join(str(overrides[n]) for n in names)
            + " | "
            + " | ".join(f"{m[k]:.3f}" for k in ("hit@1", "hit@5", "hit@10", "mrr", "ndcg@10"))
            + f" |{mark}"
        )
    best = results[0][0]
    print(f"\nbest on dev: {best}")
    if args.report_test:
        test = load_golden(split="test")
        for label, overrides in (("chosen", best), ("current", current)):
            m = score(pa, test, overrides)
            print(f"test, {label} {overrides}: " + ", ".join(f"{k} {v:.3f}" for k, v in m.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
