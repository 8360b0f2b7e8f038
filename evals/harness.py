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

With an LLM configured (any OpenAI-compatible endpoint), every row says who wrote its
answer (`backend`, `model_written`, `fallback`; `metrics.answer_origin`) and the summary
splits the answer metrics by it: model-written answers, extractive fallbacks (the model
was called and its reply failed or was rejected) and answers with no model call. The
judge's failed calls and unreadable replies are counted and left out of its mean. A
per-item `LLMError` or `QueryError` is recorded on the row (`error`) and the run goes on;
an error of the index, store, embedder or prompt files stops it (every item would fail).
Every model call of an item (answer, leave-gold-out answer, judge, table) is in its
`usage` (`assistant.llm.Ledger`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from assistant import jsonl
from assistant.errors import EvalError
from evals import metrics as M

JUDGE_MAX_TOKENS = 8  # "SUPPORTED" / "**UNSUPPORTED**" with room to spare; more is an explanation

# The golden datasets ship inside the package (evals/datasets/, package data).
DATASETS_DIR = Path(str(files("evals") / "datasets"))
DATASETS = {name: DATASETS_DIR / f"{name}.jsonl" for name in ("golden", "holdout")}  # `--dataset NAME`
GOLDEN = DATASETS["golden"]
# Run folders: relative, so under the folder the eval runs in (from the repository's root:
# its git-ignored evals/runs/). `papers eval --out DIR` puts them elsewhere.
RUNS_DIR = Path("evals") / "runs"
# The checkout this package runs from, if it runs from one: its git commit is recorded
# with every run. An installed copy has none (its parent folder is site-packages).
CHECKOUT = Path(__file__).resolve().parent.parent
ANSWER_TYPES = ("lookup", "factual", "unanswerable")
# Aggregates compared between runs: (key, higher is better).
HEADLINE = [
    ("retrieval.hit@1", True),
    ("retrieval.hit@5", True),
    ("retrieval.hit@10", True),
    ("retrieval.mrr", True),
    ("retrieval.ndcg@10", True),
    ("retrieval.recall@10", True),
    ("answers.citation_precision", True),
    ("answers.citation_recall", True),
    ("answers.faithfulness", True),
    ("answers.rationale_hit", True),
    ("abstention.abstention_recall", True),
    ("leave_gold_out.abstention_recall", True),
    ("abstention.abstention_precision", True),
    ("abstention.false_abstention", False),
    ("comparison.coverage", True),
    ("comparison.citation_precision", True),
    ("faithfulness_judge", True),
    ("answer_origin.model_written.share", True),
    ("latency.search.p95", False),
    ("latency.answer.p95", False),
]
REGRESSION = 0.02  # an absolute drop (or, for latency, a relative rise of 25%) that is flagged


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
    bad_line = "{where}: not a dataset item ({reason}); see evals/datasets/README.md for the fields"
    for number, row in jsonl.objects(path, EvalError, bad_line):
        try:
            item = Item(
                row["id"],
                row["type"],
                row["question"],
                {pid: 1.0 for pid in row["gold_paper_ids"]},
                list(row.get("gold_sentences") or []),
                list(row.get("methods") or []),
                row.get("split", "test"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise EvalError(
                f"{path}:{number}: not a dataset item ({type(exc).__name__}: {exc}); "
                f"see evals/datasets/README.md for the fields"
            ) from None
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
    items = [
        Item(
            qid,
            "lookup",
            ds.queries[qid],
            {pid: float(rel) for pid, rel in gold.items()},
            rationales=ds.rationales.get(qid, []),
            abstention_scored=not ds.rationales or qid in ds.rationales,
        )
        for qid, gold in golds.items()
        if gold
    ]
    notes = [f"BEIR {ds.name}: {len(ds.corpus)} docs, {len(items)} queries with relevant documents"]
    if ds.rationales:
        notes.append(
            f"{sum(1 for i in items if i.rationales)} queries with rationale sentences (claims.jsonl): "
            f"rationale hit and abstention are scored on these"
        )
    if len(items) < len(golds):
        notes.append(f"{len(golds) - len(items)} judged queries skipped: no judgement above 0")
    return items, records, notes


def select_items(items: list[Item], limit: int | None) -> list[Item]:
    """`--limit N`: N items spread over the item types, not the first N. The types are taken
    round-robin in the order they first appear in the dataset (the first item of each type,
    then the second of each, ...; a type with no items left is skipped), so the pick is
    deterministic. The picked items keep their dataset order. No limit, or one at least
    as large as the dataset: every item."""
    if limit is None:
        return list(items)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise EvalError(f"--limit {limit!r}: expected a positive number of items")
    if limit >= len(items):
        return list(items)
    by_type: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        by_type.setdefault(item.type, []).append(i)
    picked: list[int] = []
    depth = 0
    while len(picked) < limit:
        for positions in by_type.values():
            if depth < len(positions) and len(picked) < limit:
                picked.append(positions[depth])
        depth += 1
    return [items[i] for i in sorted(picked)]


# --- one run ----------------------------------------------------------------------------------


class Judge:
    """The LLM judge of faithfulness (prompts/judge.txt): one call per (answer sentence,
    cited quote), stopping at the first quote judged SUPPORTED. A call that fails for good
    (`LLMError`, after the client's retries) or a reply that is neither SUPPORTED nor
    UNSUPPORTED (`metrics.parse_verdict`; e.g. a base model echoing the prompt) gives no
    verdict: it is counted, never scored 0, and the run goes on. Every call is recorded
    in the item's `Ledger` (step "judge")."""

    def __init__(self, llm, settings):
        from assistant.llm.prompts import render

        self.llm, self.settings, self._render = llm, settings, render
        render("judge", settings, claim="claim", evidence="evidence")  # a broken prompt file stops the run now

    def judge(self, pairs: list[tuple[str, list[str]]], ledger) -> dict[str, Any]:
        """`metrics.judged_faithfulness` of `pairs`, with the call counts: {"score",
        "sentences", "supported", "unsupported", "unscored", "calls", "failed", "unparsed"}
        (+ "unparsed_reply": the first unreadable reply, cut to 80 characters)."""
        from assistant.llm import LLMError

        counts: dict[str, Any] = {"calls": 0, "failed": 0, "unparsed": 0}

        def verdict(claim: str, evidence: str) -> bool | None:
            messages = self._render("judge", self.settings, claim=claim, evidence=evidence)
            counts["calls"] += 1
            try:
                completion = self.llm.complete(messages, max_tokens=JUDGE_MAX_TOKENS)
            except LLMError as exc:
                ledger.failure("judge", exc, messages)
                counts["failed"] += 1
                counts.setdefault("error", str(exc)[:200])
                return None
            ledger.record("judge", completion)
            v = M.parse_verdict(completion.text, prompt="\n".join(str(m.get("content", "")) for m in messages))
            if v is None:
                counts["unparsed"] += 1
                counts.setdefault("unparsed_reply", " ".join(completion.text.split())[:80])
            return v

        return {**M.judged_faithfulness(pairs, verdict), **counts}


def judge_for(pa) -> Judge | None:
    """With an LLM configured: the judge; else None (the lexical faithfulness only)."""
    return None if pa.llm is None else Judge(pa.llm, pa.settings)


def answer_pairs(answer) -> list[tuple[str, list[str]]]:
    """(answer sentence without markers, quotes it cites) for faithfulness."""

    from assistant.answer.citations import answer_sentences
    from assistant.answer.extractive import claim_text
    from assistant.answer.text import MARKER_RE

    spans = answer_sentences(answer.text)
    quotes: dict[int, list[str]] = {}
    for c in answer.citations:
        if c.sentence is not None and c.quote:
            quotes.setdefault(c.sentence, []).append(c.quote)
    pairs = []
    for i, (s, e) in enumerate(spans):
        sentence = MARKER_RE.sub("", answer.text[s:e]).strip()
        sentence = claim_text(sentence)
        if sentence:
            pairs.append((sentence, quotes.get(i, [])))
    return pairs


def recorded_errors() -> tuple[type[Exception], ...]:
    """Per-item errors recorded on the row (the run goes on): the endpoint failed for good
    (`LLMError`), or the item's question or methods cannot be asked (`QueryError`). The
    other user errors (a damaged or mismatched index, an unreachable vector store, the
    embedding model, a broken prompt file) would fail every item the same way: they stop
    the run with their message, as do programming errors."""
    from assistant.llm import LLMError
    from assistant.retrieve import QueryError

    return (LLMError, QueryError)


def _backend_fields(obj) -> dict[str, Any]:
    backend = getattr(obj, "backend", None) if not isinstance(obj, dict) else obj.get("backend")
    fallback = getattr(obj, "fallback", None) if not isinstance(obj, dict) else obj.get("fallback")
    backend = backend or "extractive"
    written = getattr(obj, "model_written", None) if not isinstance(obj, dict) else None  # Answer.model_written
    return {
        "backend": backend,
        "model_written": bool(backend.startswith("llm:") if written is None else written),
        "fallback": fallback,
    }


def evaluate_item(pa, item: Item, k: int, judge: Judge | None = None, leave_gold_out: bool = True) -> dict[str, Any]:
    """One item's row. A recorded error (`recorded_errors`) ends the item: the row keeps
    what was measured before it, and `error`, `error_type`, `error_stage`."""
    from assistant.llm import Ledger

    row: dict[str, Any] = {"id": item.id, "type": item.type, "question": item.question}
    ledger = Ledger(pa.settings)
    try:
        _evaluate(pa, item, k, judge, leave_gold_out, row, ledger)
    except recorded_errors() as exc:
        row["error"] = " ".join(str(exc).split())[:500]
        row["error_type"] = type(exc).__name__
        row["error_stage"] = row.get("_stage")
    row.pop("_stage", None)
    row["usage"] = ledger.to_dict()
    return row


def _evaluate(pa, item: Item, k: int, judge: Judge | None, leave_gold_out: bool, row: dict, ledger) -> None:
    """Fill `row` stage by stage (`row["_stage"]`: the stage running, for a recorded error)."""
    gold = set(item.gold)
    if gold:
        row["_stage"] = "search"
        t = time.perf_counter()
        result = pa.search(item.question, k=k)
        row["latency_search"] = time.perf_counter() - t
        ranked = [h.paper_id for h in result.hits]
        row["ranked"] = ranked[:k]
        row.update({f"r_{key}": value for key, value in M.retrieval_metrics(ranked, item.gold).items()})
    if item.type in ANSWER_TYPES:
        row["_stage"] = "answer"
        t = time.perf_counter()
        answer = pa.ask(item.question)
        row["latency_answer"] = time.perf_counter() - t
        ledger.absorb(answer.usage)
        row["abstained"] = answer.abstained
        row["confidence"] = answer.confidence
        row.update(_backend_fields(answer))
        cites = [c.to_dict() for c in answer.citations]
        row["cited"] = sorted({c["paper_id"] for c in cites})
        row["stages"] = {k_: v for k_, v in answer.timings.items()}
        if not answer.abstained and item.type != "unanswerable":
            row["citation_precision"] = M.citation_precision(cites, gold, item.gold_sentences)
            row["citation_recall"] = M.citation_recall(cites, gold)
            pairs = answer_pairs(answer)
            row["faithfulness"] = M.faithfulness(pairs)
            if judge is not None:
                row["_stage"] = "judge"
                verdicts = judge.judge(pairs, ledger)
                row["faithfulness_judge"] = verdicts.pop("score")
                row["judge"] = verdicts
        if item.rationales:
            row["rationale_hit"] = M.rationale_hit([c["quote"] for c in cites], item.rationales, answer.abstained)
        if not item.abstention_scored:
            row["abstention_scored"] = False
        elif leave_gold_out and gold and item.type != "unanswerable":
            # Asked again of the library without its gold papers: it should abstain.
            row["_stage"] = "leave_gold_out"
            left = pa.engine.ask(item.question, exclude=gold)
            ledger.absorb(left.usage, prefix="leave_gold_out.")
            row["lgo_abstained"] = left.abstained
            row["lgo_confidence"] = left.confidence
            row["lgo_cited"] = sorted({c.paper_id for c in left.citations})
            row.update({f"lgo_{key}": value for key, value in _backend_fields(left).items()})
    elif item.type == "comparison":
        row["_stage"] = "compare"
        t = time.perf_counter()
        table = pa.compare(item.methods).to_dict()
        row["latency_compare"] = time.perf_counter() - t
        ledger.absorb(table.get("usage"))
        row.update(_backend_fields(table))
        row.update({f"t_{key}": value for key, value in M.table_coverage(table).items()})
        row["t_citation_precision"] = M.table_citation_precision(table, dict(zip(table["methods"], item.gold)))


def aggregate(rows: list[dict], price_in: float | None = None, price_out: float | None = None) -> dict[str, Any]:
    retrieval_keys = sorted({k[2:] for r in rows for k in r if k.startswith("r_")})
    keys = [f"r_{k}" for k in retrieval_keys] + ["citation_precision", "citation_recall", "faithfulness", "abstained"]
    counts = Counter(r["type"] for r in rows)
    by_type = {
        t: {"n": len(rows) if t == "all" else counts[t], **{k.removeprefix("r_"): v for k, v in m.items()}}
        for t, m in M.group_means(sorted(rows, key=lambda r: r["type"]), "type", keys).items()
    }
    answered = [r for r in rows if "abstained" in r and r.get("abstention_scored", True)]
    abstention = M.abstention_metrics([(r["type"] != "unanswerable", r["abstained"]) for r in answered])
    left = [r for r in rows if "lgo_abstained" in r]
    leave_gold_out = {
        "n": len(left),
        "abstention_recall": M.mean([float(r["lgo_abstained"]) for r in left]),
        "false_abstention": abstention["false_abstention"],
    }
    comparisons = [r for r in rows if r["type"] == "comparison"]
    usage = usage_summary(rows, price_in, price_out)
    stages: dict[str, list[float]] = {}
    for r in rows:
        for name in ("search", "answer", "compare"):
            if f"latency_{name}" in r:
                stages.setdefault(name, []).append(r[f"latency_{name}"])
        for name, value in (r.get("stages") or {}).items():
            stages.setdefault(f"answer.{name}", []).append(value)
    return {
        "retrieval": {k: by_type["all"][k] for k in retrieval_keys},
        "answers": {
            **{k: by_type["all"][k] for k in ("citation_precision", "citation_recall", "faithfulness")},
            "rationale_hit": M.mean([r.get("rationale_hit") for r in rows]),
            "n_rationales": sum(1 for r in rows if r.get("rationale_hit") is not None),
        },
        "faithfulness_judge": M.mean([r.get("faithfulness_judge") for r in rows]),
        **judge_summary(rows),
        "abstention": abstention,
        "answer_origin": origin_summary([r for r in rows if r["type"] in ANSWER_TYPES and "backend" in r]),
        "leave_gold_out": {**leave_gold_out, "origin": origin_counts(rows, "lgo_")},
        "comparison_origin": origin_counts(comparisons),
        "errors": error_summary(rows),
        "comparison": {
            "n": len(comparisons),
            "coverage": M.mean([r.get("t_coverage") for r in comparisons]),
            "citation_precision": M.mean([r.get("t_citation_precision") for r in comparisons]),
        },
        "by_type": by_type,
        "latency": {name: M.percentiles(values) for name, values in sorted(stages.items())},
        "usage": usage,
    }


def _reason(row: dict, prefix: str = "") -> str:
    return " ".join(str(row.get(f"{prefix}fallback") or "(no reason given)").split())[:60]


def _origin(row: dict, prefix: str = "") -> str | None:
    if f"{prefix}backend" not in row:
        return None
    return M.answer_origin(row[f"{prefix}backend"], row.get(f"{prefix}fallback"))


def origin_counts(rows: list[dict], prefix: str = "") -> dict[str, Any]:
    """How many rows (with a `{prefix}backend`) were model-written, fallbacks, or had no
    model call, and the fallbacks' reasons (first 60 characters) with their counts."""
    origins = [(r, _origin(r, prefix)) for r in rows if _origin(r, prefix) is not None]
    out: dict[str, Any] = {"n": len(origins), **{o: sum(1 for _, x in origins if x == o) for o in M.ORIGINS}}
    out["fallback_reasons"] = dict(Counter(_reason(r, prefix) for r, o in origins if o == "fallback").most_common())
    return out


def origin_summary(rows: list[dict]) -> dict[str, Any]:
    """The answer rows split by who wrote them (`metrics.answer_origin`): for each of
    model_written / fallback / no_model, its count and share of the answers, and its own
    citation precision and recall, faithfulness (lexical and judge), abstained share and
    abstention metrics; the fallbacks' reasons with their counts."""
    out: dict[str, Any] = {"n": len(rows)}
    for origin in M.ORIGINS:
        group = [r for r in rows if _origin(r) == origin]
        scored = [r for r in group if r.get("abstention_scored", True)]
        out[origin] = {
            "n": len(group),
            "share": len(group) / len(rows) if rows else None,
            **{
                key: M.mean([r.get(key) for r in group])
                for key in ("citation_precision", "citation_recall", "faithfulness", "faithfulness_judge", "abstained")
            },
            "abstention": M.abstention_metrics([(r["type"] != "unanswerable", r["abstained"]) for r in scored]),
        }
    out["fallback"]["reasons"] = origin_counts(rows)["fallback_reasons"]
    return out


def judge_summary(rows: list[dict]) -> dict[str, Any]:
    """The judge's calls over the run: made, failed for good (`LLMError`), replies neither
    SUPPORTED nor UNSUPPORTED, and the answer sentences left unscored because of them."""
    judged = [r["judge"] for r in rows if isinstance(r.get("judge"), dict)]
    out = {f"judge_{key}": sum(j.get(key, 0) for j in judged) for key in ("calls", "failed", "unparsed", "unscored")}
    out["judge_items"] = len(judged)
    out["judge_items_scored"] = sum(1 for r in rows if r.get("faithfulness_judge") is not None)
    example = next((j["unparsed_reply"] for j in judged if j.get("unparsed_reply")), None)
    error = next((j["error"] for j in judged if j.get("error")), None)
    if example is not None:
        out["judge_unparsed_example"] = example
    if error is not None:
        out["judge_error_example"] = error
    return out


def error_summary(rows: list[dict]) -> dict[str, Any]:
    failed = [r for r in rows if r.get("error")]
    return {
        "n": len(failed),
        "by_type": dict(Counter(r.get("error_type") for r in failed)),
        "by_stage": dict(Counter(r.get("error_stage") for r in failed)),
        "items": [r["id"] for r in failed],
    }


def usage_summary(rows: list[dict], price_in: float | None = None, price_out: float | None = None) -> dict[str, Any]:
    """Every model call of the run (the rows' `usage`): calls, failed calls, attempts,
    tokens (estimated when a server reported none), model seconds, per step; and the cost
    at the given prices per million tokens."""
    calls = [c for r in rows for c in (r.get("usage") or {}).get("calls") or [] if isinstance(c, dict)]
    usage: dict[str, Any] = {
        "prompt_tokens": sum((r.get("usage") or {}).get("prompt_tokens", 0) or 0 for r in rows),
        "completion_tokens": sum((r.get("usage") or {}).get("completion_tokens", 0) or 0 for r in rows),
        "calls": len(calls),
        "failed_calls": sum(1 for c in calls if not c.get("ok", True)),
        "attempts": sum(c.get("attempts", 0) or 0 for c in calls),
        "failed_attempts": sum(c.get("failed_attempts", 0) or 0 for c in calls),
        "estimated": any(c.get("estimated") for c in calls),
        "model_seconds": round(sum(c.get("seconds", 0) or 0 for c in calls), 2),
    }
    steps: dict[str, dict[str, int]] = {}
    for c in calls:
        step = steps.setdefault(
            str(c.get("step")), {"calls": 0, "failed": 0, "prompt_tokens": 0, "completion_tokens": 0}
        )
        step["calls"] += 1
        step["failed"] += 0 if c.get("ok", True) else 1
        step["prompt_tokens"] += c.get("prompt_tokens", 0) or 0
        step["completion_tokens"] += c.get("completion_tokens", 0) or 0
    usage["by_step"] = dict(sorted(steps.items()))
    if price_in is not None and price_out is not None:
        usage["prices"] = {"in": price_in, "out": price_out}
        usage["estimated_cost"] = round(
            usage["prompt_tokens"] / 1e6 * price_in + usage["completion_tokens"] / 1e6 * price_out, 4
        )
    return usage


def _duration_words(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds // 3600:.0f} h {seconds % 3600 / 60:02.0f} min"


def estimate_line(first_seconds: float, n_items: int, calls: int) -> str:
    """The rough length of a run, from its first item: 'about 12 min for 40 items
    (first item: 18 s, 7 model calls)'."""
    first = f"{first_seconds:.1f} s" if first_seconds < 10 else f"{first_seconds:.0f} s"
    return (
        f"about {_duration_words(first_seconds * n_items)} for {n_items} items "
        f"(first item: {first}, {calls} model call{'' if calls == 1 else 's'})"
    )


def git_commit() -> str | None:
    """The commit (and '+dirty') of the checkout the eval runs from; None in an installed copy
    (not a repository root: a venv inside some other repository must not lend it its commit)."""
    if not (CHECKOUT / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=CHECKOUT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=CHECKOUT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def run(
    pa,
    items: list[Item],
    out_dir: Path,
    name: str,
    dataset: str,
    split: str,
    k: int = 10,
    progress: bool = True,
    plots: bool = True,
    price_in: float | None = None,
    price_out: float | None = None,
    notes: Iterable[str] = (),
    leave_gold_out: bool = True,
) -> Path:
    """Evaluate `items` with `pa`; write the run folder and return its path.
    `leave_gold_out`: ask every answerable item again without its gold papers (it should abstain)."""
    from tqdm import tqdm

    judge = judge_for(pa)
    # Prices per million tokens: the arguments, else the settings (llm_price_in / llm_price_out).
    price_in = price_in if price_in is not None else getattr(pa.settings, "llm_price_in", None)
    price_out = price_out if price_out is not None else getattr(pa.settings, "llm_price_out", None)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    t0 = time.perf_counter()
    if items:  # in no item's latency: loads the model and opens the stores (the first item would pay for them)
        pa.search(items[0].question, k=k)
    rows = []
    for i, item in enumerate(tqdm(items, desc="eval", unit="q", disable=not progress, file=sys.stderr)):
        t = time.perf_counter()
        rows.append(evaluate_item(pa, item, k, judge, leave_gold_out))
        if i == 0 and progress and pa.llm is not None and len(items) > 1:
            tqdm.write(
                estimate_line(time.perf_counter() - t, len(items), rows[0]["usage"].get("n_calls", 0)), file=sys.stderr
            )
    report = {
        "name": name,
        "dataset": dataset,
        "split": split,
        "started": started,
        "seconds": round(time.perf_counter() - t0, 2),
        "git_commit": git_commit(),
        "backend": pa.backend_info(),
        "settings": pa.settings.public(),  # (no secret: the run is shared)
        "notes": list(notes),
        "summary": aggregate(rows, price_in, price_out),
        "items": rows,
    }
    folder = out_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"
    folder.mkdir(parents=True, exist_ok=False)
    from assistant.index.store import atomic_write_text

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
    lines = [
        f"# Evaluation run {report['name']}",
        "",
        f"- dataset: {report['dataset']} (split {report['split']}), {len(report['items'])} items, "
        f"{report['seconds']} s",
        f"- commit: {report['git_commit']}",
        f"- {_written_by_line(report)}",
        *(f"- {n}" for n in report.get("notes", [])),
        *_error_lines(report),
        "",
        "## Retrieval",
        "",
        "| type | n | hit@1 | hit@5 | hit@10 | recall@10 | MRR | nDCG@10 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t, v in s["by_type"].items():
        if v.get("hit@1") is not None:
            lines.append(
                f"| {t} | {v['n']} | "
                + " | ".join(_fmt(v.get(k)) for k in ("hit@1", "hit@5", "hit@10", "recall@10", "mrr", "ndcg@10"))
                + " |"
            )
    lines += [
        "",
        "## Answers",
        "",
        "| type | citation precision | citation recall | faithfulness | abstained |",
        "|---|---:|---:|---:|---:|",
    ]
    for t, v in s["by_type"].items():
        if v.get("abstained") is not None:
            lines.append(
                f"| {t} | {_fmt(v['citation_precision'])} | {_fmt(v['citation_recall'])} | "
                f"{_fmt(v['faithfulness'])} | {_fmt(v['abstained'])} |"
            )
    a = s["abstention"]
    lines += [
        "",
        f"Abstention: recall {_fmt(a.get('abstention_recall'))}, precision "
        f"{_fmt(a.get('abstention_precision'))}, false abstention {_fmt(a.get('false_abstention'))} "
        f"({a.get('n_answerable')} answerable, {a.get('n_unanswerable')} unanswerable).",
        *_leave_gold_out_lines(s),
        _judge_line(s),
        *_origin_lines(report),
        "",
        "## Comparisons",
        "",
        f"{s['comparison']['n']} tables: coverage (cells filled with a citation) "
        f"{_fmt(s['comparison']['coverage'])}, cited papers that are gold "
        f"{_fmt(s['comparison']['citation_precision'])}.",
        "",
        "## Cost",
        "",
        "| stage | p50 s | p95 s |",
        "|---|---:|---:|",
    ]
    for name, p in s["latency"].items():
        lines.append(f"| {name} | {_fmt(p.get('p50'))} | {_fmt(p.get('p95'))} |")
    u = s["usage"]
    lines += ["", _usage_line(u), "", "Plots: `metrics_by_type.png`, `latency.png`. Per-item rows: `run.json`."]
    misses = [r for r in report["items"] if r.get("r_hit@5") == 0.0]
    if misses:
        lines += ["", "## Retrieval misses (gold not in the top 5)", ""]
        lines += [f"- {r['id']} ({r['type']}): {r['question']}" for r in misses[:30]]
    wrong = [
        r for r in report["items"] if r.get("abstained") is not None and r["abstained"] != (r["type"] == "unanswerable")
    ]
    if wrong:
        lines += ["", "## Abstention errors", ""]
        lines += [
            f"- {r['id']} ({r['type']}, confidence {r['confidence']:.3f}, "
            f"{'abstained' if r['abstained'] else 'answered'}"
            + (f", {r['backend']}" if r.get("backend", "extractive") != "extractive" else "")
            + f"): {r['question']}"
            for r in wrong[:30]
        ]
    lines += _errors_section(report)
    return "\n".join(lines) + "\n"


def _pct(part: int, whole: int) -> str:
    return f"{part} ({100 * part / whole:.0f}%)" if whole else str(part)


def _written_by_line(report: dict) -> str:
    """Who wrote the answers: the configured backend alone would say "llm" for a run whose
    answers all fell back."""
    backend = report.get("backend") or {}
    o = report["summary"].get("answer_origin") or {}
    n = o.get("n", 0)
    if backend.get("backend") != "llm":
        extra = "" if not n or o.get("no_model", {}).get("n") == n else " (but some answers name a model: see below)"
        return f"answers: extractive, no LLM configured{extra}"
    where = f"{backend.get('model')} at {backend.get('base_url')}"
    if not n:
        return f"LLM configured: {where}; no answer was asked"
    return (
        f"LLM configured: {where}; of {n} answers it wrote {_pct(o['model_written']['n'], n)}, "
        f"{_pct(o['fallback']['n'], n)} fell back to the extractive answer, "
        f'{_pct(o["no_model"]["n"], n)} had no model call (see "Who wrote the answers")'
    )


def _error_lines(report: dict) -> list[str]:
    e = report["summary"].get("errors") or {}
    if not e.get("n"):
        return []
    kinds = ", ".join(f"{n} {kind}" for kind, n in e["by_type"].items())
    return [
        f"- **{e['n']} item(s) failed** ({kinds}): recorded in their rows, not scored for the failed stage; "
        f'listed under "Errors"'
    ]


def _judge_line(s: dict) -> str:
    if not s.get("judge_items"):
        return f"Faithfulness (LLM judge): {_fmt(s.get('faithfulness_judge'))}."
    line = (
        f"Faithfulness (LLM judge): {_fmt(s.get('faithfulness_judge'))} over {s['judge_items_scored']} of "
        f"{s['judge_items']} judged answers; {s['judge_calls']} judge calls, {s['judge_failed']} failed, "
        f"{s['judge_unparsed']} unparsed replies ({s['judge_unscored']} answer sentences left unscored, "
        f"not counted as unsupported)."
    )
    if s.get("judge_unparsed_example"):
        line += f' An unparsed reply: "{s["judge_unparsed_example"]}".'
    if s.get("judge_error_example"):
        line += f" A failure: {s['judge_error_example']}"
    return line


def _origin_lines(report: dict) -> list[str]:
    s = report["summary"]
    o = s.get("answer_origin") or {}
    configured = (report.get("backend") or {}).get("backend") == "llm"
    if not o.get("n") or (not configured and o["no_model"]["n"] == o["n"]):
        return []
    names = {"model_written": "model-written", "fallback": "fallback (extractive)", "no_model": "no model call"}
    lines = [
        "",
        "## Who wrote the answers",
        "",
        "| written by | n | share | citation precision | citation recall | faithfulness | judge | abstained | "
        "abstention recall | false abstention |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for origin in M.ORIGINS:
        g = o[origin]
        a = g["abstention"]
        lines.append(
            f"| {names[origin]} | {g['n']} | {_fmt(g['share'])} | {_fmt(g['citation_precision'])} | "
            f"{_fmt(g['citation_recall'])} | {_fmt(g['faithfulness'])} | {_fmt(g['faithfulness_judge'])} | "
            f"{_fmt(g['abstained'])} | {_fmt(a['abstention_recall'])} | {_fmt(a['false_abstention'])} |"
        )
    reasons = o["fallback"].get("reasons") or {}
    if reasons:
        lines += ["", "Fallback reasons (first 60 characters):", ""]
        lines += [f"- {n} × {reason}" for reason, n in reasons.items()]
    for title, c in (
        ("Leave-gold-out answers", (s.get("leave_gold_out") or {}).get("origin") or {}),
        ("Comparison tables", s.get("comparison_origin") or {}),
    ):
        if c.get("n"):
            lines += [
                "",
                f"{title}: {c['n']}; model-written {_pct(c['model_written'], c['n'])}, fallback "
                f"{_pct(c['fallback'], c['n'])}, no model call {_pct(c['no_model'], c['n'])}.",
            ]
    return lines


def _usage_line(u: dict) -> str:
    line = f"Tokens: {u['prompt_tokens']} prompt + {u['completion_tokens']} completion"
    if u.get("calls"):
        line += (
            f" in {u['calls']} model calls ({u['failed_calls']} failed for good, "
            f"{u['failed_attempts']} failed attempts in all; {u['model_seconds']} s in the model)"
        )
        if u.get("estimated"):
            line += "; some counts are tiktoken estimates (the server reported none)"
        steps = ", ".join(f"{name} {v['calls']}" for name, v in (u.get("by_step") or {}).items())
        if steps:
            line += f"; calls per step: {steps}"
    if "estimated_cost" in u:
        line += (
            f"; estimated cost {u['estimated_cost']} at {u['prices']['in']} / {u['prices']['out']} "
            f"per million prompt / completion tokens"
        )
    return line + "."


def _errors_section(report: dict) -> list[str]:
    failed = [r for r in report["items"] if r.get("error")]
    if not failed:
        return []
    lines = ["", "## Errors", ""]
    lines += [
        f"- {r['id']} ({r['type']}, stage {r.get('error_stage')}, {r.get('error_type')}): {r['error'][:200]}"
        for r in failed[:30]
    ]
    if len(failed) > 30:
        lines.append(f"- ... and {len(failed) - 30} more (see run.json)")
    return lines


def _leave_gold_out_lines(s: dict) -> list[str]:
    lines = []
    lgo = s.get("leave_gold_out") or {}
    if lgo.get("n"):
        lines.append(
            f"Leave-gold-out: each of {lgo['n']} answerable questions asked again without its gold "
            f"papers abstains {_fmt(lgo['abstention_recall'])} of the time (abstention recall); "
            f"false abstention on them as asked {_fmt(lgo['false_abstention'])}."
        )
    a = s.get("answers") or {}
    if a.get("n_rationales"):
        lines.append(
            f"Rationale hit: the answer quotes a gold rationale sentence for {_fmt(a['rationale_hit'])} "
            f"of {a['n_rationales']} questions with rationales."
        )
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
    lines = [
        f"A: {a['name']} ({a['dataset']} {a['split']}, {a.get('git_commit')})",
        f"B: {b['name']} ({b['dataset']} {b['split']}, {b.get('git_commit')})",
        "",
        "| metric | A | B | delta | |",
        "|---|---:|---:|---:|---|",
    ]
    for r in rows:
        delta = "n/a" if r["delta"] is None else f"{r['delta']:+.3f}"
        lines.append(
            f"| {r['metric']} | {_fmt(r['a'])} | {_fmt(r['b'])} | {delta} | {'REGRESSION' if r['regression'] else ''} |"
        )
    if a["dataset"] != b["dataset"] or a["split"] != b["split"]:
        lines += ["", "note: the runs used different datasets or splits; deltas are not comparable."]
    lines += ["", f"{len(regressions)} regression(s)" + (": " + ", ".join(regressions) if regressions else ".")]
    return "\n".join(lines)
