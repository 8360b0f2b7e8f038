"""Abstention signals on leave-gold-out pairs: which separate "the library answers
this" from "it only has neighbours", a logistic combination fitted on tuning splits
only, and where the library's self-calibrated threshold lands.

For each labelled dataset (golden split, or a BEIR folder and split), every
answerable question is scored twice: as it is (answerable) and with its gold papers
treated as not indexed (it should abstain). Real unanswerable items are scored as
they are. The library's pseudo-questions (`assistant.answer.abstain.pseudo_questions`)
are scored the same way, without any label.

    HF_HUB_OFFLINE=1 .venv/bin/python -m evals.experiments.abstention_signals collect \\
        --dataset golden --split dev --out /tmp/abst-golden-dev.json
    HF_HUB_OFFLINE=1 .venv/bin/python -m evals.experiments.abstention_signals collect \\
        --dataset beir:../shared/benchmarks/scifact --split train --out /tmp/abst-scifact-train.json
    HF_HUB_OFFLINE=1 .venv/bin/python -m evals.experiments.abstention_signals fit \\
        /tmp/abst-golden-dev.json /tmp/abst-scifact-train.json     # weights for assistant/answer/abstain.py
    HF_HUB_OFFLINE=1 .venv/bin/python -m evals.experiments.abstention_signals quantiles FILE...  # QUANTILES
    HF_HUB_OFFLINE=1 .venv/bin/python -m evals.experiments.abstention_signals report FILE...  # AUCs, thresholds
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def auc(pos: list[float], neg: list[float]) -> float:
    """P(a random answerable value > a random unanswerable one); ties count half."""
    if not pos or not neg:
        return float("nan")
    p, n = np.array(pos)[:, None], np.array(neg)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def _open(dataset: str, split: str):
    from assistant.api import PaperAssistant
    from assistant.settings import Settings
    from evals.harness import RUNS_DIR, load_golden

    if dataset == "golden":
        pa = PaperAssistant.open(Settings(), llm=False)
        items = [i for i in load_golden(split=split) if i.type != "comparison"]
        return pa, [(i.question, sorted(i.gold), i.type != "unanswerable") for i in items]
    from evals.beir import gold_paper_ids, load_beir

    folder = Path(dataset.removeprefix("beir:"))
    ds = load_beir(folder, split)
    pa = PaperAssistant(Settings(index_dir=RUNS_DIR / "beir-indexes", index_name=ds.name), llm=False)
    if not pa.index.exists:
        raise SystemExit(f"no index for {ds.name}: run `papers eval --dataset {dataset}` once first")
    rows = []
    for qid in ds.qrels:
        gold = sorted(gold_paper_ids(ds, qid))
        # With rationales (SciFact), a claim is answerable only when an abstract supports or refutes it.
        if gold and (not ds.rationales or qid in ds.rationales):
            rows.append((ds.queries[qid], gold, True))
    return pa, rows


def _row(pa, question: str, exclude, kind: str) -> dict:
    evidence = pa.engine.evidence(question, exclude=exclude)
    return {
        "kind": kind,
        "question": question,
        "stated": not evidence.nothing_stated,
        **evidence.signals.get("features", {}),
    }


def collect(args) -> int:
    from tqdm import tqdm

    from assistant.answer.abstain import pseudo_questions

    pa, items = _open(args.dataset, args.split)
    if args.limit:
        items = items[: args.limit]
    rows = []
    for question, gold, answerable in tqdm(items, desc="labelled", file=sys.stderr):
        if answerable:
            rows.append(_row(pa, question, (), "answerable"))
            rows.append(_row(pa, question, set(gold), "left_out"))
        else:
            rows.append(_row(pa, question, (), "unanswerable"))
    for question, pid in tqdm(pseudo_questions(pa.index.papers, args.pseudo), desc="pseudo", file=sys.stderr):
        rows.append(_row(pa, question, (), "pseudo_answerable"))
        rows.append(_row(pa, question, {pid}, "pseudo_left_out"))
    Path(args.out).write_text(json.dumps({"dataset": args.dataset, "split": args.split, "rows": rows}))
    print(f"{len(rows)} rows -> {args.out}")
    return 0


def _matrix(rows: list[dict], names: list[str]) -> np.ndarray:
    return np.array([[r[n] for n in names] for r in rows], dtype=float)


def fit_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = 1.0, steps: int = 50) -> np.ndarray:
    """Weighted L2-regularised logistic regression by Newton's method; returns
    [intercept, coefficients...] on the raw features."""
    xb = np.hstack([np.ones((len(x), 1)), x])
    beta = np.zeros(xb.shape[1])
    reg = np.full(xb.shape[1], l2)
    reg[0] = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-xb @ beta))
        grad = xb.T @ (w * (p - y)) + reg * beta
        hess = (xb * (w * p * (1 - p))[:, None]).T @ xb + np.diag(reg)
        beta -= np.linalg.solve(hess, grad)
    return beta


def fit(args) -> int:
    from assistant.answer.abstain import FEATURES, WEIGHTS

    names = args.features.split(",") if args.features else [k for k in WEIGHTS if k != "intercept"]
    unknown = set(names) - set(FEATURES)
    if unknown:
        raise SystemExit(f"unknown feature(s) {', '.join(sorted(unknown))}; known: {', '.join(FEATURES)}")
    rows, weights, labels = [], [], []
    for file in args.files:
        data = json.loads(Path(file).read_text())
        use = [
            {**r, "_file": len(args.files[: args.files.index(file)])}
            for r in data["rows"]
            if r["kind"] in ("answerable", "left_out", "unanswerable") and r["stated"]
        ]
        n = len(use)
        rows += use
        weights += [1.0 / n] * n  # each dataset counts the same
        labels += [1.0 if r["kind"] == "answerable" else 0.0 for r in use]
    x, y, w = _matrix(rows, names), np.array(labels), np.array(weights) * len(rows) / len(args.files)
    beta = fit_logistic(x, y, w, l2=args.l2)
    print(
        json.dumps(
            {"intercept": round(float(beta[0]), 4), **{n: round(float(b), 4) for n, b in zip(names, beta[1:])}},
            indent=1,
        )
    )
    # How it carries over: fitted on each file alone, AUC on the others.
    for i, file in enumerate(args.files):
        own = [j for j, r in enumerate(rows) if r["_file"] == i]
        b = fit_logistic(x[own], y[own], np.ones(len(own)), l2=args.l2)
        for k, other in enumerate(args.files):
            if k != i:
                idx = [j for j, r in enumerate(rows) if r["_file"] == k]
                z = b[0] + x[idx] @ b[1:]
                print(
                    f"fitted on {file} alone -> AUC on {other}: {auc(list(z[y[idx] == 1]), list(z[y[idx] == 0])):.3f}"
                )
    return 0


def report(args) -> int:
    from assistant.answer.abstain import FEATURES, QUANTILES, score

    for file in args.files:
        data = json.loads(Path(file).read_text())
        rows = data["rows"]
        for r in rows:
            r["score"] = score(r) if r["stated"] else -1.0
        by = {
            k: [r for r in rows if r["kind"] == k]
            for k in ("answerable", "left_out", "unanswerable", "pseudo_answerable", "pseudo_left_out")
        }
        print(f"\n## {data['dataset']} {data['split']}: " + ", ".join(f"{k} {len(v)}" for k, v in by.items()))
        print("| signal | AUC answerable vs left out | vs real unanswerable | pseudo AUC |")
        print("|---|---:|---:|---:|")
        for name in FEATURES + ["score"]:
            a = [r[name] for r in by["answerable"]]
            print(
                f"| {name} | {auc(a, [r[name] for r in by['left_out']]):.3f} | "
                f"{auc(a, [r[name] for r in by['unanswerable']]):.3f} | "
                f"{auc([r[name] for r in by['pseudo_answerable']], [r[name] for r in by['pseudo_left_out']]):.3f} |"
            )
        pos = [r["score"] for r in by["answerable"]]
        neg = [r["score"] for r in by["left_out"] + by["unanswerable"]]
        grid = sorted(set(pos + neg))
        best = max(grid, key=lambda t: np.mean([v < t for v in neg]) - np.mean([v < t for v in pos]))
        print(
            f"best single threshold (labels, Youden): {best:.3f} -> abstention recall "
            f"{np.mean([v < best for v in neg]):.3f}, false abstention {np.mean([v < best for v in pos]):.3f}"
        )
        rates = _own_rates(rows, QUANTILES)
        print(
            f"self-calibrated (QUANTILES {QUANTILES}): thresholds {rates['thresholds']} -> abstention recall "
            f"{rates['recall']:.3f}, false abstention {rates['false']:.3f}"
        )
        old = lambda r: not r["stated"] or r["confidence"] < 0.34  # noqa: E731 - session 5's fixed rule
        print(
            f"session-5 rule (confidence < 0.34): leave-gold-out abstention recall "
            f"{np.mean([old(r) for r in by['left_out']]):.3f}, false abstention "
            f"{np.mean([old(r) for r in by['answerable']]):.3f}"
        )
        for f in ("lookup", "other"):
            found = _label_best(rows, f, budget=0.10)
            if found:
                t, recall, false, n = found
                print(
                    f"best with labels, {f} ({n} answerable), false abstention <= 0.10: threshold {t:.3f} -> "
                    f"abstention recall {recall:.3f}, false abstention {false:.3f}"
                )
    return 0


def _label_best(rows: list[dict], form_: str, budget: float) -> tuple[float, float, float, int] | None:
    """The threshold with the highest abstention recall whose false abstention stays within
    `budget`, for the labelled rows of one question form (needs 5 answerable ones)."""
    from assistant.answer.abstain import form

    pos = np.array([r["score"] for r in rows if r["kind"] == "answerable" and form(r["question"]) == form_])
    neg = np.array(
        [r["score"] for r in rows if r["kind"] in ("left_out", "unanswerable") and form(r["question"]) == form_]
    )
    if len(pos) < 5:
        return None
    best = None
    for t in np.unique(np.concatenate([pos, neg, [0.0, 1.0]])):
        false, recall = float(np.mean(pos < t)), float(np.mean(neg < t)) if len(neg) else 0.0
        if false <= budget and (best is None or recall > best[1]):
            best = (float(t), recall, false, len(pos))
    return best


def _own_rates(rows: list[dict], quantiles: dict[str, float]) -> dict:
    """Abstention rates of a dataset's labelled rows under the thresholds its library's
    pseudo-questions give (no label used to set them)."""
    from assistant.answer.abstain import choose_threshold, form

    left = [r for r in rows if r["kind"] == "pseudo_left_out" and r["stated"]]
    thresholds = {
        f: choose_threshold([r["score"] for r in left if form(r["question"]) == f], q) for f, q in quantiles.items()
    }

    def below(r: dict) -> bool:
        return not r["stated"] or r["score"] < thresholds[form(r["question"])]

    pos = [below(r) for r in rows if r["kind"] == "answerable"]
    neg = [below(r) for r in rows if r["kind"] in ("left_out", "unanswerable")]
    return {
        "thresholds": {f: round(float(t), 3) for f, t in thresholds.items()},
        "recall": float(np.mean(neg)),
        "false": float(np.mean(pos)),
    }


def quantiles(args) -> int:
    """The per-form quantiles: the highest mean abstention recall over the files that keeps
    false abstention at or under --max-false on every file."""
    from assistant.answer.abstain import score

    datasets = []
    for file in args.files:
        rows = json.loads(Path(file).read_text())["rows"]
        for r in rows:
            r["score"] = score(r)
        datasets.append(rows)
    grid = [round(q, 2) for q in np.arange(0.05, 0.96, 0.05)]
    found = []
    for q_lookup in grid:
        for q_other in grid:
            rates = [_own_rates(rows, {"lookup": q_lookup, "other": q_other}) for rows in datasets]
            if all(r["false"] <= args.max_false for r in rates):
                found.append((float(np.mean([r["recall"] for r in rates])), q_lookup, q_other, rates))
    for recall, q_lookup, q_other, rates in sorted(found, key=lambda x: -x[0])[:5]:
        print(
            f"lookup {q_lookup}, other {q_other}: mean recall {recall:.3f} | "
            + " | ".join(
                f"{Path(f).stem}: {r['thresholds']} recall {r['recall']:.3f} false {r['false']:.3f}"
                for f, r in zip(args.files, rates)
            )
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.experiments.abstention_signals",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--dataset", default="golden")
    c.add_argument("--split", default="dev")
    c.add_argument("--limit", type=int, default=0)
    c.add_argument("--pseudo", type=int, default=160, help="pseudo-questions from the library")
    c.add_argument("--out", required=True)
    f = sub.add_parser("fit")
    f.add_argument("files", nargs="+")
    f.add_argument("--l2", type=float, default=1.0)
    f.add_argument("--features", help="comma-separated (default: those of abstain.WEIGHTS)")
    q = sub.add_parser("quantiles")
    q.add_argument("files", nargs="+")
    q.add_argument("--max-false", type=float, default=0.10)
    r = sub.add_parser("report")
    r.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    return {"collect": collect, "fit": fit, "report": report, "quantiles": quantiles}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
