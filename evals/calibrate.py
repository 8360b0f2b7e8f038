"""The best abstention threshold on the labelled golden set, beside the one the
library calibrated on itself (`assistant.answer.abstain`; the product uses that one
unless PAPERS_ABSTAIN_THRESHOLD is set).

For every answerable (lookup, factual) and unanswerable question of the split,
compute the answerability the answer engine compares with its threshold, then
pick the threshold that maximises
abstention recall - false-abstention rate (Youden's J; ties go to fewer false
abstentions). Comparison questions are answered by the comparison table and
never abstain, so they are left out. The chosen value is reported on the test
split too (for reporting only: it is not tuned there).

    HF_HUB_OFFLINE=1 .venv/bin/python -m evals.calibrate [--split dev] [--index-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from evals import metrics as M
from evals.harness import Item, load_golden


def confidences(pa, items: list[Item], progress: bool = True, relative: bool = False) -> list[tuple[float, bool]]:
    """(answerability, answerable) per lookup/factual/unanswerable item; `relative`: the
    answerability minus the library's own threshold for the question (abstains below 0)."""
    from tqdm import tqdm

    out = []
    for item in tqdm(
        [i for i in items if i.type != "comparison"], desc="evidence", disable=not progress, file=sys.stderr
    ):
        evidence = pa.engine.evidence(item.question)
        # A question whose asked-for quantity no abstract states abstains at any threshold.
        score = evidence.answerability - (pa.engine.threshold(item.question) if relative else 0.0)
        out.append((-1.0 if evidence.nothing_stated else score, item.type != "unanswerable"))
    return out


def rates(scored: list[tuple[float, bool]], threshold: float) -> dict:
    """`evals.metrics.abstention_metrics` when every item below `threshold` abstains."""
    m = M.abstention_metrics((answerable, c < threshold) for c, answerable in scored)
    keep = ("abstention_recall", "abstention_precision", "false_abstention")
    return {
        "threshold": round(threshold, 4),
        **{k: None if m[k] is None else round(m[k], 4) for k in keep},
        "answerable": m["n_answerable"],
        "unanswerable": m["n_unanswerable"],
    }


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def choose(scored: list[tuple[float, bool]]) -> dict:
    values = sorted({round(c, 6) for c, _ in scored})
    # Candidate cut points: midway between neighbouring confidences (and the ends).
    cuts = [0.0] + [(a + b) / 2 for a, b in zip(values, values[1:])] + [values[-1] + 1e-6 if values else 1.0]
    best = max(
        (rates(scored, t) for t in cuts),
        key=lambda r: (r["abstention_recall"] - r["false_abstention"], -r["false_abstention"]),
    )
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.calibrate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--split", default="dev", help="split to calibrate on (default: dev)")
    parser.add_argument(
        "--index-dir",
        type=Path,
        help="index folder (default: PAPERS_INDEX_DIR, else indexes in the per-user data folder)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)

    from assistant.api import PaperAssistant
    from assistant.settings import Settings

    settings = Settings(**({"index_dir": args.index_dir} if args.index_dir else {}))
    pa = PaperAssistant.open(settings, llm=False)
    tuned = confidences(pa, load_golden(split=args.split))
    chosen = choose(tuned)
    others = sorted({i.split for i in load_golden(split="all")} - {args.split})
    report = {
        "calibrated_on": args.split,
        "chosen": chosen,
        "own_thresholds": rates(confidences(pa, load_golden(split=args.split), relative=True), 0.0),
        "held_out": {s: rates(confidences(pa, load_golden(split=s)), chosen["threshold"]) for s in others},
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"calibrated on {args.split}: threshold {chosen['threshold']:.3f} -> abstention recall "
            f"{chosen['abstention_recall']:.2f}, false abstention {chosen['false_abstention']:.2f} "
            f"({chosen['answerable']} answerable, {chosen['unanswerable']} unanswerable)"
        )
        own = report["own_thresholds"]
        print(
            f"the library's own thresholds on {args.split}: recall {own['abstention_recall']:.2f}, "
            f"false {own['false_abstention']:.2f}"
        )
        for split, r in report["held_out"].items():
            print(
                f"held-out {split} at {r['threshold']:.3f}: recall {r['abstention_recall']:.2f}, "
                f"precision {_fmt(r['abstention_precision'])}, false {r['false_abstention']:.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
