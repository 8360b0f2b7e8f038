"""The rejected "soft term coverage" abstention signal (docs/evaluation.md, session 3).

For every lookup / factual / unanswerable item of a golden split, and each of the top
three retrieved papers: each question content word's best MiniLM word-vector cosine
against the paper's words (1.0 when the word occurs), aggregated several ways and mixed
with the best sentence match; prints, per aggregation and per question type, the sorted
best-of-three values, and the lookups/unanswerables near the cut.

    HF_HUB_OFFLINE=1 .venv/bin/python -m evals.experiments.soft_coverage [--split dev] [--index-dir DIR]
"""

from __future__ import annotations

import math
import re

import numpy as np

from assistant.answer.text import content_terms
from assistant.index.lexical import tokenize
from evals.experiments import setup
from evals.harness import load_golden

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-]+")


def surface(text: str) -> dict[str, str]:
    """Folded term -> a word as written."""
    out: dict[str, str] = {}
    for w in _WORD.findall(text):
        for t in tokenize(w):
            out.setdefault(t, w.lower())
    return out


def aggregate(per: list[tuple[str, float, int]], how: str, n_papers: int) -> float:
    s = np.array([p[1] for p in per])
    if how == "mean":
        return float(s.mean())
    if how == "min":
        return float(s.min())
    if how in ("low2", "low3"):
        return float(np.sort(s)[: int(how[-1])].mean())
    w = np.array([math.log((n_papers + 1) / (p[2] + 0.5)) for p in per])  # idf
    return float((s * w).sum() / w.sum())


def main(argv: list[str] | None = None) -> int:
    args, pa = setup("evals.experiments.soft_coverage", __doc__, argv)
    embed = pa.index.embedder
    cache: dict[str, np.ndarray] = {}

    def vectors(words: list[str]) -> np.ndarray:
        todo = [w for w in words if w not in cache]
        if todo:
            cache.update(zip(todo, embed.embed_documents(todo)))
        return np.vstack([cache[w] for w in words])

    counts = pa.engine.paper_terms.counts()
    rows = []
    for item in load_golden(split=args.split):
        if item.type == "comparison":
            continue
        ev = pa.engine.evidence(item.question)
        qs = surface(item.question)
        terms = [t for t in sorted(ev.terms) if t in qs]
        per_paper = []
        for src in ev.sources[:3]:
            text = f"{src.paper.title} {src.paper.abstract}"
            ps, pterms = surface(text), content_terms(text)
            pwords = sorted({ps[t] for t in pterms if t in ps})
            if not terms or not pwords:
                continue
            sims = vectors([qs[t] for t in terms]) @ vectors(pwords).T
            per = [(t, 1.0 if t in pterms else float(row.max()), counts[t]) for t, row in zip(terms, sims)]
            top = max((x.dense for x in ev.sentences if x.source is src), default=0.0)
            per_paper.append((top, per))
        rows.append((item.id, item.type, per_paper))

    for how in ("mean", "min", "low2", "low3", "idf"):
        for mix in (0.0, 0.5):
            print(f"{how}, {mix} x best sentence + {1 - mix} x soft coverage")
            by_type: dict[str, list[tuple[float, str]]] = {}
            for iid, kind, per_paper in rows:
                best = max(
                    (mix * top + (1 - mix) * aggregate(per, how, len(pa.index.papers)) for top, per in per_paper),
                    default=0.0,
                )
                by_type.setdefault(kind, []).append((round(best, 3), iid))
            for kind, values in sorted(by_type.items()):
                print(f"  {kind:12s} " + " ".join(f"{v:.3f}" for v, _ in sorted(values)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
