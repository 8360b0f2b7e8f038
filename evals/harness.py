"""Offline evaluation runs: golden questions (or a BEIR dataset) -> retrieval,
answer and comparison metrics -> a run folder with run.json, summary.md and
PNG plots; and the comparison of two runs.

    papers eval [--split test] [--dataset golden|PATH.jsonl|beir:FOLDER] [--set rrf_k=30 ...]
    papers eval --compare RUN_A RUN_B

Per item (see evals/metrics.py for every definition):
- retrieval (every item with gold papers): `pa.search(question, k=10)` -> hit@1/5/10,
  recall@5/10, MRR, nDCG@10;
- answers (lookup, factual, unanswerable): `pa.ask(question)` -> abstained?,
  citation precision/recall, faithfulness (each answer sentence against the quotes
  it cites: the lexical support score offline, the judge prompt with an LLM);
- comparisons: `pa.compare(methods)` -> table coverage (cells filled with a valid
  citation) and table citation precision (each citation is the gold paper of the
  method whose cell cites it; golden comparison items list gold papers in method order);
- cost: latency per stage, tokens (and an estimated price when given) with an LLM.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from evals import metrics as M

PROJECT_DIR = Path(__file__).resolve().parent.parent
GOLDEN = PROJECT_DIR / "evals" / "datasets" / "golden.jsonl"
RUNS_DIR = PROJECT_DIR / "evals" / "runs"
ANSWER_TYPES = ("lookup", "factual", "unanswerable")
# Aggregates compared between runs: (key, higher is better).
HEADLINE = [("retrieval.hit@1", True), ("retrieval.hit@5", True), ("retrieval.hit@10", True),
            ("retrieval.mrr", True), ("retrieval.ndcg@10", True), ("retrieval.recall@10", True),
            ("answers.citation_precision", True), ("answers.citation_recall", True),
            ("answers.faithfulness", True), ("answers.rationale_hit", True), ("abstention.abstention_recall", True),
            ("leave_gold_out.abstention_recall", True),
            ("abstention.abstention_precision", True), ("abstention.false_abstention", False),
            ("comparison.coverage", True), ("comparison.citation_precision", True),
            ("latency.search.p95", False), ("latency.answer.p95", False)]
REGRESSION = 0.02  # an absolute drop (or, for latency, a relative rise of 25%) that is flagged


class EvalError(Exception):
    """The dataset or a run folder cannot be used; the message says which and why."""


@dataclass
class Item:
    id: str
    type: str
    question: str
    gold: dict[str, float]  # paper id -> relevance
    gold_sentences: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    split: str = "test"
    # Gold rationale sentences (SciFact's claims.jsonl): scored by `rationale_hit`. A dataset
    # with rationales counts an item as answerable for abstention only when it has some
    # (a claim whose cited abstract neither supports nor refutes it is not answered by it).
    rationales: list[str] = field(default_factory=list)
    abstention_scored: bool = True


def load_golden(path: Path = GOLDEN, split: str | None = "test") -> list[Item]:
    items = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise EvalError(f"{path}: cannot read the dataset ({exc.strerror or exc})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            item = Item(row["id"], row["type"], row["question"], {pid: 1.0 for pid in row["gold_paper_ids"]},
                        list(row.get("gold_sentences") or []), list(row.get("methods") or []),
                        row.get("split", "test"))
        except (ValueError, KeyError, TypeError) as exc:
            raise EvalError(f"{path}:{number}: not a dataset item ({type(exc).__name__}: {exc}); "
                            f"see evals/datasets/README.md for the fields") from None
        if split in (None, "all") or item.split == split:
            items.append(item)
    if not items:
        raise EvalError(f"{path}: no items in split {split!r}")
    return items


def load_beir_items(folder: Path, split: str = "test") -> tuple[list[Item], Path, list[str]]:
    """BEIR queries as lookup items, and the corpus as a JSONL file to ingest."""
    from evals.beir import gold_paper_ids, load_beir, to_jsonl_records

    ds = load_beir(folder, split)
    records = to_jsonl_records(ds, Path(os.environ.get("TMPDIR", "/tmp")) / f"beir-{ds.name}-{os.getpid()}.jsonl")
    # A query judged only "not relevant" (score 0) has no gold paper: it is no lookup to score.
    golds = {qid: gold_paper_ids(ds, qid) for qid in ds.qrels}
    items = [Item(qid, "lookup", ds.queries[qid], {pid: float(rel) for pid, rel in gold.items()},
                  rationales=ds.rationales.get(qid, []), abstention_scored=not ds.rationales or qid in ds.rationales)
             for qid, gold in golds.items() if gold]
    notes = [f"BEIR {ds.name}: {len(ds.corpus)} docs, {len(items)} queries with relevant documents"]
    if ds.rationales:
        notes.append(f"{sum(1 for i in items if i.rationales)} queries with rationale sentences (claims.jsonl): "
                     f"rationale hit and abstention are scored on these")
    if len(items) < len(golds):
        notes.append(f"{len(golds) - len(items)} judged queries skipped: no judgement above 0")
    return items, records, notes


# --- one run ----------------------------------------------------------------------------------


def judge_scorer(pa) -> Callable[[str, str], float] | None:
    """With an LLM configured: the judge prompt, 1.0 for SUPPORTED else 0.0."""
    if pa.llm is None:
        return None
    from assistant.prompts import render

    def score(claim: str, evidence: str) -> float:
        completion = pa.llm.complete(render("judge", pa.settings, claim=claim, evidence=evidence), max_tokens=5)
        return 1.0 if completion.text.strip().upper().startswith("SUPPORTED") else 0.0

    return score


def answer_pairs(answer) -> list[tuple[str, list[str]]]:
    """(answer sentence without markers, quotes it cites) for faithfulness."""
    import re

    from assistant.answer.citations import answer_sentences
    from assistant.answer.text import MARKER_RE

    spans = answer_sentences(answer.text)
    quotes: dict[int, list[str]] = {}
    for c in answer.citations:
        if c.sentence is not None and c.quote:
            quotes.setdefault(c.sentence, []).append(c.quote)
    pairs = []
    for i, (s, e) in enumerate(spans):
        sentence = MARKER_RE.sub("", answer.text[s:e]).strip()
        sentence = re.sub(r"^(?:The best match is |Also relevant: )?\*\*.+?\*\*(?: \([^)]*\))?: ", "", sentence)
        if sentence:
            pairs.append((sentence, quotes.get(i, [])))
    return pairs


def evaluate_item(pa, item: Item, k: int, scorer, leave_gold_out: bool = True) -> dict[str, Any]:
    row: dict[str, Any] = {"id": item.id, "type": item.type, "question": item.question}
    gold = set(item.gold)
    if gold:
        t = time.perf_counter()
        result = pa.search(item.question, k=k)
        row["latency_search"] = time.perf_counter() - t
        ranked = [h.paper_id for h in result.hits]
        row["ranked"] = ranked[:k]
        row.update({f"r_{key}": value for key, value in M.retrieval_metrics(ranked, item.gold).items()})
    if item.type in ANSWER_TYPES:
        t = time.perf_counter()
        answer = pa.ask(item.question)
        row["latency_answer"] = time.perf_counter() - t
        row["abstained"] = answer.abstained
        row["confidence"] = answer.confidence
        row["backend"] = answer.backend
        cites = [c.to_dict() for c in answer.citations]
        row["cited"] = sorted({c["paper_id"] for c in cites})
        if not answer.abstained and item.type != "unanswerable":
            row["citation_precision"] = M.citation_precision(cites, gold, item.gold_sentences)
            row["citation_recall"] = M.citation_recall(cites, gold)
            pairs = answer_pairs(answer)
            row["faithfulness"] = M.faithfulness(pairs)
            if scorer is not None:
                row["faithfulness_judge"] = M.faithfulness(pairs, scorer=scorer, threshold=0.5)
        if item.rationales:
            row["rationale_hit"] = M.rationale_hit([c["quote"] for c in cites], item.rationales, answer.abstained)
        if not item.abstention_scored:
            row["abstention_scored"] = False
        elif leave_gold_out and gold and item.type != "unanswerable":
            # Asked again of the library without its gold papers: it should abstain.
            left = pa.engine.ask(item.question, exclude=gold)
            row["lgo_abstained"] = left.abstained
            row["lgo_confidence"] = left.confidence
            row["lgo_cited"] = sorted({c.paper_id for c in left.citations})
        row["usage"] = answer.usage or {}
        row["stages"] = {k_: v for k_, v in answer.timings.items()}
    elif item.type == "comparison":
        t = time.perf_counter()
        table = pa.compare(item.methods).to_dict()
        row["latency_compare"] = time.perf_counter() - t
        row.update({f"t_{key}": value for key, value in M.table_coverage(table).items()})
        row["t_citation_precision"] = M.table_citation_precision(table, dict(zip(table["methods"], item.gold)))
        row["usage"] = table.get("usage") or {}
    return row


def aggregate(rows: list[dict], price_in: float | None = None, price_out: float | None = None) -> dict[str, Any]:
    retrieval_keys = sorted({k[2:] for r in rows for k in r if k.startswith("r_")})
    keys = [f"r_{k}" for k in retrieval_keys] + ["citation_precision", "citation_recall", "faithfulness", "abstained"]
    counts = Counter(r["type"] for r in rows)
    by_type = {t: {"n": len(rows) if t == "all" else counts[t], **{k.removeprefix("r_"): v for k, v in m.items()}}
               for t, m in M.group_means(sorted(rows, key=lambda r: r["type"]), "type", keys).items()}
    answered = [r for r in rows if "abstained" in r and r.get("abstention_scored", True)]
    abstention = M.abstention_metrics([(r["type"] != "unanswerable", r["abstained"]) for r in answered])
    left = [r for r in rows if "lgo_abstained" in r]
    leave_gold_out = {"n": len(left), "abstention_recall": M.mean([float(r["lgo_abstained"]) for r in left]),
                      "false_abstention": abstention["false_abstention"]}
    comparisons = [r for r in rows if r["type"] == "comparison"]
    usage = {"prompt_tokens": sum(r.get("usage", {}).get("prompt_tokens", 0) or 0 for r in rows),
             "completion_tokens": sum(r.get("usage", {}).get("completion_tokens", 0) or 0 for r in rows)}
    if price_in is not None and price_out is not None:
        usage["estimated_usd"] = round(usage["prompt_tokens"] / 1e6 * price_in
                                       + usage["completion_tokens"] / 1e6 * price_out, 4)
    stages: dict[str, list[float]] = {}
    for r in rows:
        for name in ("search", "answer", "compare"):
            if f"latency_{name}" in r:
                stages.setdefault(name, []).append(r[f"latency_{name}"])
        for name, value in (r.get("stages") or {}).items():
            stages.setdefault(f"answer.{name}", []).append(value)
    return {
        "retrieval": {k: by_type["all"][k] for k in retrieval_keys},
        "answers": {**{k: by_type["all"][k] for k in ("citation_precision", "citation_recall", "faithfulness")},
                    "rationale_hit": M.mean([r.get("rationale_hit") for r in rows]),
                    "n_rationales": sum(1 for r in rows if r.get("rationale_hit") is not None)},
        "faithfulness_judge": M.mean([r.get("faithfulness_judge") for r in rows]),
        "abstention": abstention,
        "leave_gold_out": leave_gold_out,
        "comparison": {"n": len(comparisons),
                       "coverage": M.mean([r.get("t_coverage") for r in comparisons]),
                       "citation_precision": M.mean([r.get("t_citation_precision") for r in comparisons])},
        "by_type": by_type,
        "latency": {name: M.percentiles(values) for name, values in sorted(stages.items())},
        "usage": usage,
    }


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=PROJECT_DIR, capture_output=True, text=True,
                               timeout=10).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def run(pa, items: list[Item], out_dir: Path, name: str, dataset: str, split: str, k: int = 10,
        progress: bool = True, plots: bool = True, price_in: float | None = None,
        price_out: float | None = None, notes: Iterable[str] = (), leave_gold_out: bool = True) -> Path:
    """Evaluate `items` with `pa`; write the run folder and return its path.
    `leave_gold_out`: ask every answerable item again without its gold papers (it should abstain)."""
    from tqdm import tqdm

    scorer = judge_scorer(pa)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    t0 = time.perf_counter()
    if items:  # in no item's latency: loads the model and opens the stores (the first item would pay for them)
        pa.search(items[0].question, k=k)
    rows = []
    for item in tqdm(items, desc="eval", unit="q", disable=not progress, file=sys.stderr):
        rows.append(evaluate_item(pa, item, k, scorer, leave_gold_out))
    report = {
        "name": name, "dataset": dataset, "split": split, "started": started,
        "seconds": round(time.perf_counter() - t0, 2), "git_commit": git_commit(),
        "backend": pa.backend_info(), "settings": json.loads(pa.settings.model_dump_json(exclude={"openai_api_key"})),
        "notes": list(notes), "summary": aggregate(rows, price_in, price_out), "items": rows,
    }
    folder = out_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"
    folder.mkdir(parents=True, exist_ok=False)
    from assistant.store import atomic_write_text

    atomic_write_text(folder / "run.json", json.dumps(report, indent=1, ensure_ascii=False, default=str))
    atomic_write_text(folder / "summary.md", summary_markdown(report))
    if plots:
        write_plots(report, folder)
    return folder


# --- reports ----------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def summary_markdown(report: dict) -> str:
    s = report["summary"]
    lines = [f"# Evaluation run {report['name']}", "",
             f"- dataset: {report['dataset']} (split {report['split']}), {len(report['items'])} items, "
             f"{report['seconds']} s", f"- commit: {report['git_commit']}", f"- backend: {report['backend']}",
             *(f"- {n}" for n in report.get("notes", [])), "", "## Retrieval", "",
             "| type | n | hit@1 | hit@5 | hit@10 | recall@10 | MRR | nDCG@10 |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for t, v in s["by_type"].items():
        if v.get("hit@1") is not None:
            lines.append(f"| {t} | {v['n']} | " + " | ".join(_fmt(v.get(k)) for k in (
                "hit@1", "hit@5", "hit@10", "recall@10", "mrr", "ndcg@10")) + " |")
    lines += ["", "## Answers", "", "| type | citation precision | citation recall | faithfulness | abstained |",
              "|---|---:|---:|---:|---:|"]
    for t, v in s["by_type"].items():
        if v.get("abstained") is not None:
            lines.append(f"| {t} | {_fmt(v['citation_precision'])} | {_fmt(v['citation_recall'])} | "
                         f"{_fmt(v['faithfulness'])} | {_fmt(v['abstained'])} |")
    a = s["abstention"]
    lines += ["", f"Abstention: recall {_fmt(a.get('abstention_recall'))}, precision "
                  f"{_fmt(a.get('abstention_precision'))}, false abstention {_fmt(a.get('false_abstention'))} "
                  f"({a.get('n_answerable')} answerable, {a.get('n_unanswerable')} unanswerable).",
              *_leave_gold_out_lines(s),
              f"Faithfulness (LLM judge): {_fmt(s.get('faithfulness_judge'))}.",
              "", "## Comparisons", "",
              f"{s['comparison']['n']} tables: coverage (cells filled with a citation) "
              f"{_fmt(s['comparison']['coverage'])}, cited papers that are gold "
              f"{_fmt(s['comparison']['citation_precision'])}.", "", "## Cost", "",
              "| stage | p50 s | p95 s |", "|---|---:|---:|"]
    for name, p in s["latency"].items():
        lines.append(f"| {name} | {_fmt(p.get('p50'))} | {_fmt(p.get('p95'))} |")
    u = s["usage"]
    lines += ["", f"Tokens: {u['prompt_tokens']} prompt + {u['completion_tokens']} completion"
                  + (f", about ${u['estimated_usd']}" if "estimated_usd" in u else "") + ".", "",
              "Plots: `metrics_by_type.png`, `latency.png`. Per-item rows: `run.json`."]
    misses = [r for r in report["items"] if r.get("r_hit@5") == 0.0]
    if misses:
        lines += ["", "## Retrieval misses (gold not in the top 5)", ""]
        lines += [f"- {r['id']} ({r['type']}): {r['question']}" for r in misses[:30]]
    wrong = [r for r in report["items"] if r.get("abstained") is not None
             and r["abstained"] != (r["type"] == "unanswerable")]
    if wrong:
        lines += ["", "## Abstention errors", ""]
        lines += [f"- {r['id']} ({r['type']}, confidence {r['confidence']:.3f}, "
                  f"{'abstained' if r['abstained'] else 'answered'}): {r['question']}" for r in wrong[:30]]
    return "\n".join(lines) + "\n"


def _leave_gold_out_lines(s: dict) -> list[str]:
    lines = []
    lgo = s.get("leave_gold_out") or {}
    if lgo.get("n"):
        lines.append(f"Leave-gold-out: each of {lgo['n']} answerable questions asked again without its gold "
                     f"papers abstains {_fmt(lgo['abstention_recall'])} of the time (abstention recall); "
                     f"false abstention on them as asked {_fmt(lgo['false_abstention'])}.")
    a = s.get("answers") or {}
    if a.get("n_rationales"):
        lines.append(f"Rationale hit: the answer quotes a gold rationale sentence for {_fmt(a['rationale_hit'])} "
                     f"of {a['n_rationales']} questions with rationales.")
    return lines


def write_plots(report: dict, folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    s = report["summary"]["by_type"]
    types = [t for t in s if t != "all"]
    names = ["hit@1", "hit@5", "mrr", "ndcg@10", "citation_precision", "faithfulness", "abstained"]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / max(len(types), 1)
    for i, t in enumerate(types):
        values = [s[t].get(n) if s[t].get(n) is not None else 0.0 for n in names]
        ax.bar(np.arange(len(names)) + i * width, values, width, label=f"{t} (n={s[t]['n']})")
    ax.set_xticks(np.arange(len(names)) + width * (len(types) - 1) / 2, names)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"{report['name']}: metrics by question type ({report['dataset']}, {report['split']})")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(folder / "metrics_by_type.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4))
    for name in ("search", "answer", "compare"):
        values = [r[f"latency_{name}"] * 1000 for r in report["items"] if f"latency_{name}" in r]
        if values:
            ax.hist(values, bins=30, alpha=0.6, label=f"{name} (p50 {np.percentile(values, 50):.0f} ms)")
    ax.set_xlabel("ms per question")
    ax.set_ylabel("questions")
    ax.set_title("Latency distribution")
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "latency.png", dpi=110)
    plt.close(fig)


# --- comparing runs ---------------------------------------------------------------------------


def _get(summary: dict, dotted: str):
    value: Any = summary
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def load_run(path: Path) -> dict:
    file = path / "run.json" if path.is_dir() else path
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EvalError(f"{file}: cannot read the run ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise EvalError(f"{file}: not a run report ({exc})") from None


def compare_runs(a: dict, b: dict) -> tuple[list[dict], list[str]]:
    """Deltas of the headline metrics from run a to run b, and the regressions."""
    rows, regressions = [], []
    for key, higher in HEADLINE:
        va, vb = _get(a["summary"], key), _get(b["summary"], key)
        row = {"metric": key, "a": va, "b": vb, "delta": None, "regression": False}
        if isinstance(va, (int, float)) and isinstance(vb, (int, float)):
            row["delta"] = vb - va
            if key.startswith("latency"):
                row["regression"] = va > 0 and vb > va * 1.25
            else:
                row["regression"] = (va - vb if higher else vb - va) > REGRESSION
        if row["regression"]:
            regressions.append(key)
        rows.append(row)
    return rows, regressions


def compare_markdown(a: dict, b: dict, rows: list[dict], regressions: list[str]) -> str:
    lines = [f"A: {a['name']} ({a['dataset']} {a['split']}, {a.get('git_commit')})",
             f"B: {b['name']} ({b['dataset']} {b['split']}, {b.get('git_commit')})", "",
             "| metric | A | B | delta | |", "|---|---:|---:|---:|---|"]
    for r in rows:
        delta = "n/a" if r["delta"] is None else f"{r['delta']:+.3f}"
        lines.append(f"| {r['metric']} | {_fmt(r['a'])} | {_fmt(r['b'])} | {delta} | "
                     f"{'REGRESSION' if r['regression'] else ''} |")
    if a["dataset"] != b["dataset"] or a["split"] != b["split"]:
        lines += ["", "note: the runs used different datasets or splits; deltas are not comparable."]
    lines += ["", f"{len(regressions)} regression(s)" + (": " + ", ".join(regressions) if regressions else ".")]
    return "\n".join(lines)
