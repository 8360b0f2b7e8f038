"""The evaluation harness: a real (small) run over golden items with the full
bundled index, the three report kinds, run-to-run comparison and bad inputs."""

from __future__ import annotations

import json
import re

import pytest

from evals import harness


def test_a_run_writes_json_markdown_and_plots(full_index, tmp_path):
    items = harness.load_golden(split="test")
    picked = [next(i for i in items if i.type == t) for t in ("lookup", "factual", "comparison", "unanswerable")]
    folder = harness.run(full_index, picked, tmp_path, "smoke", "golden", "test", progress=False)
    assert sorted(p.name for p in folder.iterdir()) == ["latency.png", "metrics_by_type.png", "run.json",
                                                         "summary.md"]
    report = json.loads((folder / "run.json").read_text())
    assert report["settings"]["top_k"] == full_index.settings.top_k and "openai_api_key" not in report["settings"]
    # The commit when run from a checkout, None from an installed copy (or without git).
    assert report["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", report["git_commit"])
    assert report["backend"]["backend"] == "extractive"
    rows = {r["type"]: r for r in report["items"]}
    assert set(rows) == {"lookup", "factual", "comparison", "unanswerable"}
    assert "r_hit@5" in rows["lookup"] and "r_hit@5" not in rows["unanswerable"]
    assert rows["comparison"]["t_cells"] == len(picked[2].methods) * 5
    assert rows["factual"]["abstained"] is False and rows["factual"]["citation_precision"] is not None
    s = report["summary"]
    for key in ("hit@1", "hit@5", "hit@10", "mrr", "ndcg@10"):  # the means of the per-item values
        scored = [r[f"r_{key}"] for r in report["items"] if f"r_{key}" in r]
        assert len(scored) == 3 and s["retrieval"][key] == pytest.approx(sum(scored) / 3, abs=1e-3)
    assert s["abstention"]["n_unanswerable"] == 1 and s["abstention"]["n_answerable"] == 2
    # Leave-gold-out: each answerable item is asked again without its gold papers.
    assert {"lgo_abstained", "lgo_confidence"} <= set(rows["lookup"]) and "lgo_abstained" in rows["factual"]
    assert "lgo_abstained" not in rows["unanswerable"] and "lgo_abstained" not in rows["comparison"]
    assert set(rows["lookup"]["lgo_cited"]).isdisjoint(picked[0].gold)  # the gold paper is never cited
    lgo = s["leave_gold_out"]
    assert lgo["n"] == 2 and lgo["abstention_recall"] == pytest.approx(
        (rows["lookup"]["lgo_abstained"] + rows["factual"]["lgo_abstained"]) / 2)
    assert lgo["false_abstention"] == s["abstention"]["false_abstention"]
    assert set(s["latency"]) >= {"search", "answer", "compare"}
    md = (folder / "summary.md").read_text()
    assert md.startswith("# Evaluation run smoke") and "| lookup | 1 |" in md and "Leave-gold-out: each of 2" in md
    assert (folder / "metrics_by_type.png").read_bytes()[:4] == b"\x89PNG"


def _report(name, changes=None):
    base = {"retrieval": {"hit@1": 0.5, "hit@5": 0.9, "hit@10": 0.95, "mrr": 0.7, "ndcg@10": 0.75, "recall@10": 0.9},
            "answers": {"citation_precision": 0.96, "citation_recall": 0.8, "faithfulness": 0.9},
            "abstention": {"abstention_recall": 0.6, "abstention_precision": 0.8, "false_abstention": 0.02},
            "comparison": {"coverage": 0.8, "citation_precision": 1.0},
            "latency": {"search": {"p95": 0.04}, "answer": {"p95": 0.5}}}
    for (group, key), value in (changes or {}).items():
        base[group][key] = value
    return {"name": name, "dataset": "golden", "split": "test", "git_commit": "abc", "summary": base}


def test_comparing_runs_flags_regressions():
    a = _report("a")
    b = _report("b", {("retrieval", "mrr"): 0.74, ("abstention", "false_abstention"): 0.05,
                      ("answers", "faithfulness"): 0.89, ("latency", "search"): {"p95": 0.06}})
    rows, regressions = harness.compare_runs(a, b)
    by = {r["metric"]: r for r in rows}
    assert by["retrieval.mrr"]["delta"] == pytest.approx(0.04) and not by["retrieval.mrr"]["regression"]
    assert by["abstention.false_abstention"]["regression"]  # lower is better: +0.03 is worse
    assert not by["answers.faithfulness"]["regression"]  # -0.01 is within the 0.02 tolerance
    assert by["latency.search.p95"]["regression"]  # +50 %
    assert regressions == ["abstention.false_abstention", "latency.search.p95"]
    text = harness.compare_markdown(a, b, rows, regressions)
    assert "| retrieval.mrr | 0.700 | 0.740 | +0.040 |  |" in text and "2 regression(s)" in text


def test_cli_compare_and_bad_inputs(papers_main, tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "run.json").write_text(json.dumps(_report(name, {("retrieval", "hit@1"): 0.4} if name == "b"
                                                                     else None)))
    proc = papers_main("eval", "--compare", tmp_path / "a", tmp_path / "b", "--fail-on-regression")
    assert proc.returncode == 1 and "REGRESSION" in proc.stdout and "retrieval.hit@1" in proc.stdout
    proc = papers_main("eval", "--compare", tmp_path / "a", tmp_path / "missing")
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "missing" in proc.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x1", "type": "lookup", "question": "q", "gold_paper_ids": []}\n{"id": \n')
    proc = papers_main("eval", "--dataset", bad, "--split", "all", "--index-dir", tmp_path / "idx")
    assert proc.returncode == 2 and f"{bad}:2: not a dataset item (invalid JSON" in proc.stderr
    proc = papers_main("eval", "--set", "colour=red", "--index-dir", tmp_path / "idx")
    assert proc.returncode == 2 and "--set 'colour=red'" in proc.stderr


# --- --limit, and who wrote the answers (synthetic rows; no index) ------------------------------


def _kinds(*kinds):
    return [harness.Item(f"i{n}", kind, f"question {n}", {}) for n, kind in enumerate(kinds)]


def test_limit_takes_items_round_robin_over_types_in_dataset_order():
    items = _kinds(*["lookup"] * 4, "factual", "factual", "comparison", *["unanswerable"] * 3)
    # round 1: i0 (lookup), i4 (factual), i6 (comparison), i7 (unanswerable); round 2: i1, i5, -, i8; round 3: i2
    assert [i.id for i in harness.select_items(items, 5)] == ["i0", "i1", "i4", "i6", "i7"]
    assert [i.id for i in harness.select_items(items, 8)] == ["i0", "i1", "i2", "i4", "i5", "i6", "i7", "i8"]
    assert harness.select_items(items, 5) == harness.select_items(list(items), 5)  # deterministic
    assert harness.select_items(items, 10) == items and harness.select_items(items, 99) == items
    assert harness.select_items(items, None) == items
    # The types take turns in the order they first appear, not alphabetically.
    mixed = _kinds("unanswerable", "lookup", "unanswerable", "lookup")
    assert [i.id for i in harness.select_items(mixed, 1)] == ["i0"]
    assert [i.id for i in harness.select_items(mixed, 3)] == ["i0", "i1", "i2"]
    for bad in (0, -3):
        with pytest.raises(harness.EvalError, match="--limit"):
            harness.select_items(items, bad)


def test_limit_on_the_golden_test_split_spreads_over_its_four_types():
    from collections import Counter

    picked = harness.select_items(harness.load_golden(split="test"), 8)
    assert Counter(i.type for i in picked) == {"lookup": 2, "factual": 2, "comparison": 2, "unanswerable": 2}


def test_cli_limit_help_says_round_robin_and_rejects_zero(papers_main, tmp_path):
    proc = papers_main("eval", "--help")
    text = " ".join(proc.stdout.split())  # argparse wraps the help to the terminal's width
    assert "round-robin" in text and "not the first N" in text
    proc = papers_main("eval", "--limit", "0", "--index-dir", tmp_path / "idx")
    assert proc.returncode == 2 and "--limit 0" in proc.stderr
    assert not (tmp_path / "idx").exists()  # refused before an index is built


def _answer_row(i, kind, backend, fallback=None, abstained=False, **metrics):
    row = {"id": f"q{i}", "type": kind, "question": "?", "abstained": abstained, "confidence": 0.5,
           "backend": backend, "model_written": backend.startswith("llm:"), "fallback": fallback, "usage": {}}
    row.update(metrics)
    return row


def test_summary_splits_the_answer_metrics_by_who_wrote_them():
    long_reason = "the model's answer cited a paper that is not among the sources given to it (marker [7])"
    rows = [
        _answer_row(1, "factual", "llm:m", citation_precision=1.0, citation_recall=1.0, faithfulness=1.0,
                    faithfulness_judge=1.0),
        _answer_row(2, "lookup", "llm:m", citation_precision=0.5, citation_recall=1.0, faithfulness=0.5,
                    faithfulness_judge=None),  # the judge gave no verdict: not in any judge mean
        _answer_row(3, "unanswerable", "llm:m", abstained=True),  # the model's own abstention
        _answer_row(4, "factual", "extractive (LLM fallback)", long_reason, citation_precision=0.25,
                    citation_recall=0.0, faithfulness=0.75, faithfulness_judge=0.0),
        _answer_row(5, "factual", "extractive (LLM fallback)", long_reason + " again", abstained=True),
        _answer_row(6, "lookup", "extractive (LLM fallback)", "LLM endpoint http://h/v1: timeout",
                    citation_precision=1.0, faithfulness=1.0),
        _answer_row(7, "unanswerable", "extractive", abstained=True),
        {"id": "c1", "type": "comparison", "question": "?", "backend": "extractive (LLM fallback)",
         "fallback": "The model's table was not valid JSON", "model_written": False, "t_coverage": 0.5},
        {"id": "x1", "type": "factual", "question": "?", "error": "boom", "error_type": "LLMError",
         "error_stage": "answer"},
    ]
    rows[0].update(lgo_abstained=True, lgo_backend="llm:m", lgo_fallback=None)
    rows[3].update(lgo_abstained=False, lgo_backend="extractive (LLM fallback)", lgo_fallback="timeout")
    s = harness.aggregate(rows)
    o = s["answer_origin"]
    assert o["n"] == 7 and (o["model_written"]["n"], o["fallback"]["n"], o["no_model"]["n"]) == (3, 3, 1)
    assert o["fallback"]["share"] == pytest.approx(3 / 7)
    m, f, n = o["model_written"], o["fallback"], o["no_model"]
    assert m["citation_precision"] == 0.75 and m["faithfulness"] == 0.75 and m["faithfulness_judge"] == 1.0
    assert m["abstained"] == pytest.approx(1 / 3) and m["abstention"]["abstention_recall"] == 1.0
    assert m["abstention"]["false_abstention"] == 0.0
    assert f["citation_precision"] == pytest.approx(0.625) and f["faithfulness_judge"] == 0.0
    assert f["abstention"]["false_abstention"] == pytest.approx(1 / 3) and f["abstention"]["abstention_recall"] is None
    assert n["n"] == 1 and n["abstained"] == 1.0 and n["citation_precision"] is None
    assert f["reasons"] == {long_reason[:60]: 2, "LLM endpoint http://h/v1: timeout": 1}
    assert s["comparison_origin"] == {"n": 1, "model_written": 0, "fallback": 1, "no_model": 0,
                                      "fallback_reasons": {"The model's table was not valid JSON": 1}}
    assert s["leave_gold_out"]["origin"]["model_written"] == 1 and s["leave_gold_out"]["origin"]["fallback"] == 1
    assert s["errors"]["n"] == 1 and s["errors"]["items"] == ["x1"]
    assert s["faithfulness_judge"] == 0.5  # 1.0 and 0.0; the unscored item is left out, not counted as 0

    report = {"name": "r", "dataset": "golden", "split": "dev", "seconds": 1.0, "git_commit": "abc",
              "backend": {"backend": "llm", "model": "m", "base_url": "http://h/v1"}, "notes": [],
              "summary": s, "items": rows}
    md = harness.summary_markdown(report)
    assert "- LLM configured: m at http://h/v1; of 7 answers it wrote 3 (43%), 3 (43%) fell back" in md
    assert "1 (14%) had no model call" in md and "backend: " not in md
    assert "| fallback (extractive) | 3 | 0.429 | 0.625 |" in md
    assert f"- 2 × {long_reason[:60]}" in md
    assert "Comparison tables: 1; model-written 0 (0%), fallback 1 (100%)" in md
    assert "**1 item(s) failed** (1 LLMError)" in md

    report["backend"] = {"backend": "extractive", "detail": "no LLM"}
    plain = [r for r in rows if r.get("backend") == "extractive"]
    report.update(summary=harness.aggregate(plain), items=plain)
    md = harness.summary_markdown(report)
    assert "- answers: extractive, no LLM configured\n" in md and "Who wrote the answers" not in md
