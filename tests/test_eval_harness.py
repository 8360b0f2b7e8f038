"""The evaluation harness: a real (small) run over golden items with the full
bundled index, the three report kinds, run-to-run comparison and bad inputs."""

from __future__ import annotations

import json

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
    assert report["git_commit"] and report["backend"]["backend"] == "extractive"
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


def test_cli_compare_and_bad_inputs(papers_cli, tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "run.json").write_text(json.dumps(_report(name, {("retrieval", "hit@1"): 0.4} if name == "b"
                                                                     else None)))
    proc = papers_cli("eval", "--compare", tmp_path / "a", tmp_path / "b", "--fail-on-regression")
    assert proc.returncode == 1 and "REGRESSION" in proc.stdout and "retrieval.hit@1" in proc.stdout
    proc = papers_cli("eval", "--compare", tmp_path / "a", tmp_path / "missing")
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "missing" in proc.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x1", "type": "lookup", "question": "q", "gold_paper_ids": []}\n{"id": \n')
    proc = papers_cli("eval", "--dataset", bad, "--split", "all", "--index-dir", tmp_path / "idx")
    assert proc.returncode == 2 and f"{bad}:2: not a dataset item" in proc.stderr
    proc = papers_cli("eval", "--set", "colour=red", "--index-dir", tmp_path / "idx")
    assert proc.returncode == 2 and "--set 'colour=red'" in proc.stderr
