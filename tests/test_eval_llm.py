"""`papers eval` with a model configured: the judge's failures and unreadable replies,
who wrote each answer, per-item errors, the run-length estimate, and one real run through
the CLI. The model is the scripted OpenAI-compatible server of tests/llm_server.py; the
answers of most tests are scripted too (a stand-in assistant), so no index is needed
except for the CLI run (the 20-paper `sample_lib`)."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest

from assistant.llm import ChatLLM, LLMError
from assistant.records import Answer, Citation
from assistant.retrieve import QueryError
from evals import harness
from evals.harness import Item
from fake_embedder import fake_model_env

JUDGE_SYSTEM = "You check whether a claim is supported"


def _cite(n: int, sentence: int, quote: str) -> Citation:
    return Citation(n, f"p{n}", f"Paper {n}", ["A. Author"], 2023, quote, 0, len(quote), "lib.jsonl",
                    sentence=sentence)


# Two answer sentences: the first cites two quotes (only the second says "memory"), the second one quote.
TEXT = "Sparse attention cuts memory use [1][2]. It keeps accuracy on long inputs [3]."
CITES = [_cite(1, 0, "Attention is computed on local blocks."), _cite(2, 0, "This cuts memory use by half."),
         _cite(3, 1, "We evaluate on short inputs only.")]
# What the (rewritten) engine puts in Answer.usage: Ledger.to_dict() of its own calls.
ANSWER_USAGE = {"model": "test-model", "n_calls": 2, "prompt_tokens": 30, "completion_tokens": 12,
                "calls": [{"step": "evidence", "ok": True, "prompt_tokens": 20, "completion_tokens": 4,
                           "estimated": False, "attempts": 1, "failed_attempts": 0, "seconds": 0.1},
                          {"step": "answer", "ok": True, "prompt_tokens": 10, "completion_tokens": 8,
                           "estimated": False, "attempts": 2, "failed_attempts": 1, "seconds": 0.2}]}


def model_answer(question: str) -> Answer:
    return Answer(question, TEXT, list(CITES), backend="llm:test-model", usage=json.loads(json.dumps(ANSWER_USAGE)))


class StandIn:
    """What harness.run uses of a PaperAssistant, with scripted answers (an Answer, or an
    exception to raise) and a real ChatLLM for the judge."""

    def __init__(self, settings, answers: dict, llm: bool = True):
        self.settings = settings
        self.llm = ChatLLM(settings) if llm else None
        self.answers = answers
        self.engine = SimpleNamespace(ask=self._left_out)
        self.asked: list[str] = []

    def search(self, question, k=10):
        return SimpleNamespace(hits=[SimpleNamespace(paper_id=f"p{i}") for i in range(1, 4)])

    def ask(self, question):
        self.asked.append(question)
        answer = self.answers[question]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def _left_out(self, question, exclude=()):
        return Answer(question, "The indexed abstracts do not answer this.", abstained=True)

    def compare(self, methods):
        raise AssertionError("no comparison item in these tests")

    def backend_info(self):
        return self.llm.describe() if self.llm else {"backend": "extractive", "detail": "no LLM"}


def _items(*questions: tuple[str, str]) -> list[Item]:
    return [Item(f"q{i}", kind, question, {"p1": 1.0}) for i, (kind, question) in enumerate(questions, start=1)]


def _run(pa, items, tmp_path, **kw):
    folder = harness.run(pa, items, tmp_path, "t", "golden", "test", plots=False, **kw)
    return folder, json.loads((folder / "run.json").read_text()), (folder / "summary.md").read_text()


def _is_judge(request: dict) -> bool:
    return JUDGE_SYSTEM in request["messages"][0]["content"]


def test_a_judge_that_fails_is_counted_and_never_scores_zero(llm_server, tmp_path):
    settings = llm_server.settings()
    for _ in range(3 * settings.llm_max_attempts):  # 3 judge calls, each retried until attempts run out
        llm_server.plan(status=500)
    pa = StandIn(settings, {"What does sparse attention do?": model_answer("What does sparse attention do?")})
    folder, report, md = _run(pa, _items(("factual", "What does sparse attention do?")), tmp_path, progress=False)

    assert llm_server.pending() == 0 and len(llm_server.requests) == 3 * settings.llm_max_attempts
    assert all(_is_judge(r) for r in llm_server.requests)
    row = report["items"][0]
    assert "error" not in row  # a failed judge is no failed item
    assert row["faithfulness_judge"] is None  # no verdict: left out, not 0
    assert row["judge"]["calls"] == 3 and row["judge"]["failed"] == 3 and row["judge"]["unparsed"] == 0
    assert row["judge"]["unscored"] == 2 and row["judge"]["supported"] == row["judge"]["unsupported"] == 0
    assert "server error (500)" in row["judge"]["error"]
    # The item's usage covers every call: the answer's two and the three failed judge calls.
    usage = row["usage"]
    assert [c["step"] for c in usage["calls"]] == ["evidence", "answer", "judge", "judge", "judge"]
    judged = usage["calls"][2:]
    assert all(not c["ok"] and c["attempts"] == c["failed_attempts"] == settings.llm_max_attempts for c in judged)
    assert usage["n_calls"] == 5 and usage["failed_attempts"] == 1 + 3 * settings.llm_max_attempts
    s = report["summary"]
    assert (s["judge_calls"], s["judge_failed"], s["judge_unparsed"]) == (3, 3, 0)
    assert s["faithfulness_judge"] is None and s["usage"]["failed_calls"] == 3
    assert s["usage"]["by_step"]["judge"] == {"calls": 3, "failed": 3, "prompt_tokens": sum(
        c["prompt_tokens"] for c in judged), "completion_tokens": 0}
    assert "3 judge calls, 3 failed, 0 unparsed replies (2 answer sentences left unscored" in md


def test_a_judge_that_echoes_the_prompt_is_unparsed(llm_server, tmp_path):
    replies = iter([
        lambda r: r["messages"][-1]["content"],  # a base model continuing the user message
        lambda r: "SUPPORTED if the evidence states",  # the instruction echoed: it starts with a verdict word
        lambda r: r["messages"][0]["content"] + "\n" + r["messages"][-1]["content"],  # the whole prompt
    ])
    llm_server.reply = lambda request: next(replies)(request)
    question = "What does sparse attention do?"
    pa = StandIn(llm_server.settings(), {question: model_answer(question)})
    _, report, md = _run(pa, _items(("factual", "What does sparse attention do?")), tmp_path, progress=False)

    row = report["items"][0]
    assert row["judge"]["calls"] == 3 and row["judge"]["unparsed"] == 3 and row["judge"]["failed"] == 0
    assert row["faithfulness_judge"] is None and row["judge"]["unscored"] == 2
    assert row["judge"]["unparsed_reply"].startswith("Evidence: <evidence>")
    assert [c["ok"] for c in row["usage"]["calls"][2:]] == [True] * 3  # the calls themselves succeeded
    s = report["summary"]
    assert (s["judge_calls"], s["judge_failed"], s["judge_unparsed"]) == (3, 0, 3)
    assert s["faithfulness_judge"] is None and s["judge_unparsed_example"].startswith("Evidence:")
    assert "3 unparsed replies" in md and 'An unparsed reply: "Evidence:' in md


def test_a_good_judge_the_split_by_writer_and_the_estimate(llm_server, tmp_path, capsys):
    def judge(request):
        assert _is_judge(request)
        evidence = request["messages"][-1]["content"].split("</evidence>")[0]
        return "**SUPPORTED**" if "memory" in evidence else "Unsupported."

    llm_server.reply = judge
    fallback = Answer("q2", TEXT, list(CITES), backend="extractive (LLM fallback)",
                      fallback="the model cited no source for 2 sentences; the extractive answer is shown",
                      usage=json.loads(json.dumps(ANSWER_USAGE)))
    plain = Answer("q3", "The indexed abstracts do not answer this.", abstained=True, backend="extractive")
    answers = {"What does sparse attention do?": model_answer("q1"), "How is memory cut?": fallback,
               "Which paper studies ECG arrhythmias?": plain}
    pa = StandIn(llm_server.settings(), answers)
    items = _items(("factual", "What does sparse attention do?"), ("factual", "How is memory cut?"),
                   ("unanswerable", "Which paper studies ECG arrhythmias?"))
    _, report, md = _run(pa, items, tmp_path, progress=True)
    err = capsys.readouterr().err

    # Sentence 1: quote 1 unsupported, quote 2 supported (the judge stops there); sentence 2: unsupported.
    assert len(llm_server.requests) == 6  # 3 per judged answer; the abstention is not judged
    rows = {r["id"]: r for r in report["items"]}
    assert rows["q1"]["faithfulness_judge"] == 0.5 and rows["q1"]["judge"]["calls"] == 3
    assert rows["q1"]["judge"]["unparsed"] == rows["q1"]["judge"]["failed"] == 0
    assert (rows["q1"]["backend"], rows["q1"]["model_written"], rows["q1"]["fallback"]) == (
        "llm:test-model", True, None)
    assert rows["q2"]["model_written"] is False and rows["q2"]["fallback"].startswith("the model cited no source")
    assert rows["q3"]["backend"] == "extractive" and "judge" not in rows["q3"]

    s = report["summary"]
    assert s["faithfulness_judge"] == 0.5 and (s["judge_calls"], s["judge_failed"], s["judge_unparsed"]) == (6, 0, 0)
    o = s["answer_origin"]
    assert o["n"] == 3 and [o[k]["n"] for k in ("model_written", "fallback", "no_model")] == [1, 1, 1]
    assert o["model_written"]["share"] == pytest.approx(1 / 3)
    assert o["model_written"]["faithfulness_judge"] == 0.5 and o["fallback"]["faithfulness_judge"] == 0.5
    assert o["no_model"]["faithfulness_judge"] is None and o["no_model"]["abstained"] == 1.0
    assert o["no_model"]["abstention"]["abstention_recall"] == 1.0
    assert o["model_written"]["abstention"]["false_abstention"] == 0.0
    assert o["fallback"]["reasons"] == {"the model cited no source for 2 sentences; the extractive an": 1}
    # The summary says who wrote the answers, never just "backend: llm".
    assert "backend: " not in md
    assert "LLM configured: test-model at " in md and "it wrote 1 (33%), 1 (33%) fell back" in md
    assert "## Who wrote the answers" in md and "| model-written | 1 | 0.333 |" in md
    assert "- 1 × the model cited no source for 2 sentences" in md
    # The estimate after the first item: its wall time and its calls (2 of the answer + 3 of the judge).
    line = next(x for x in err.splitlines() if x.startswith("about "))
    assert re.fullmatch(r"about \d+ s for 3 items \(first item: \d+\.\d s, 5 model calls\)", line), line


def test_no_estimate_without_a_model_or_without_progress(llm_server, tmp_path, capsys):
    answers = {"Which paper studies ECG arrhythmias?": Answer("q", "No answer.", abstained=True)}
    items = _items(("unanswerable", "Which paper studies ECG arrhythmias?")) * 2
    _run(StandIn(llm_server.settings(), answers, llm=False), items, tmp_path / "a", progress=True)
    _run(StandIn(llm_server.settings(), answers), items, tmp_path / "b", progress=False)
    assert "about " not in capsys.readouterr().err
    assert llm_server.requests == []


def test_estimate_line_wording():
    assert harness.estimate_line(18.2, 40, 7) == "about 12 min for 40 items (first item: 18 s, 7 model calls)"
    assert harness.estimate_line(2.34, 10, 1) == "about 23 s for 10 items (first item: 2.3 s, 1 model call)"
    assert harness.estimate_line(30, 400, 9) == "about 3 h 20 min for 400 items (first item: 30 s, 9 model calls)"


def test_per_item_errors_are_recorded_and_index_errors_stop_the_run(tmp_path, llm_server):
    from assistant.index import IndexMismatch
    from assistant.index.store import CorruptIndex

    settings = llm_server.settings()
    failing = LLMError("LLM endpoint http://x/v1 (model m): server error (500)", status=500, attempts=3)
    answers = {"a?": failing, "b?": QueryError("empty question"),
               "c?": Answer("c?", "No answer.", abstained=True)}
    items = _items(("factual", "a?"), ("lookup", "b?"), ("unanswerable", "c?"))
    _, report, md = _run(StandIn(settings, answers, llm=False), items, tmp_path, progress=False)
    rows = {r["id"]: r for r in report["items"]}
    assert rows["q1"]["error_type"] == "LLMError" and rows["q1"]["error_stage"] == "answer"
    assert "server error (500)" in rows["q1"]["error"] and "abstained" not in rows["q1"]
    assert rows["q1"]["r_hit@1"] == 1.0  # what was measured before the failure stays
    assert rows["q2"]["error_type"] == "QueryError" and "error" not in rows["q3"]
    e = report["summary"]["errors"]
    assert e == {"n": 2, "by_type": {"LLMError": 1, "QueryError": 1}, "by_stage": {"answer": 2},
                 "items": ["q1", "q2"]}
    assert report["summary"]["answer_origin"]["n"] == 1  # failed items are not counted as answers
    assert "**2 item(s) failed** (1 LLMError, 1 QueryError)" in md and "## Errors" in md
    assert "- q1 (factual, stage answer, LLMError): LLM endpoint" in md

    for error in (IndexMismatch("the index was built with another embedding model"),
                  CorruptIndex("indexes/default/papers.jsonl: cannot be read")):
        with pytest.raises(type(error)):
            harness.run(StandIn(settings, {"a?": error}, llm=False), _items(("factual", "a?")), tmp_path / "x",
                        "t", "golden", "test", plots=False, progress=False)
    assert not (tmp_path / "x").exists()  # nothing half-written


def test_cli_eval_with_a_model_runs_and_reports_who_wrote_the_answers(sample_lib, llm_server, papers_main, tmp_path):
    """A real PaperAssistant over 20 papers, the model answering nonsense (the engine falls
    back or abstains, whatever its rules) and the judge answering SUPPORTED. The index was
    built with the FAKE embedder; the same server serves its vectors (/v1/embeddings)."""
    pa, rows, _, _ = sample_lib
    llm_server.reply = lambda r: "SUPPORTED" if _is_judge(r) else "This is a scripted test reply."
    papers = pa.papers
    items = [{"id": "l1", "type": "lookup", "question": f"Which paper is titled {papers[0].title}?",
              "gold_paper_ids": [papers[0].id]},
             {"id": "l2", "type": "lookup", "question": f"Which paper is titled {papers[1].title}?",
              "gold_paper_ids": [papers[1].id]},
             {"id": "l3", "type": "lookup", "question": f"Which paper is titled {papers[2].title}?",
              "gold_paper_ids": [papers[2].id]},
             {"id": "u1", "type": "unanswerable", "question": "Which paper detects arrhythmias from ECG signals?",
              "gold_paper_ids": []}]
    dataset = tmp_path / "items.jsonl"
    dataset.write_text("".join(json.dumps(i) + "\n" for i in items))
    env = {**fake_model_env(llm_server), "PAPERS_LLM_ENABLED": "true",
           "OPENAI_BASE_URL": llm_server.url + "/v1", "OPENAI_API_KEY": "test-key", "PAPERS_LLM_MODEL": "test-model",
           "PAPERS_LLM_RETRY_INITIAL": "0.01", "PAPERS_LLM_RETRY_MAX": "0.05", "PAPERS_LLM_TIMEOUT": "5",
           "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    out = tmp_path / "runs"
    proc = papers_main("eval", "--dataset", dataset, "--split", "all", "--index-dir", pa.settings.index_dir,
                       "--limit", "2", "--out", out, "--no-plots", "--name", "llm", env=env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(next(out.glob("*-llm/run.json")).read_text())
    # --limit 2 takes one item of each type, not the first two.
    assert [r["id"] for r in report["items"]] == ["l1", "u1"]
    assert "--limit 2: 2 of 4 items, taken round-robin over the item types" in report["notes"]
    assert llm_server.requests, "the model was never called"
    o = report["summary"]["answer_origin"]
    answered = [r for r in report["items"] if "backend" in r]
    assert o["n"] == len(answered) == 2
    for r in answered:
        assert r["backend"] in ("extractive", "extractive (LLM fallback)") or r["backend"].startswith("llm:")
        assert r["model_written"] == r["backend"].startswith("llm:")
    assert sum(o[k]["n"] for k in ("model_written", "fallback", "no_model")) == 2
    assert o["fallback"]["n"] == sum(1 for r in answered if r["backend"] == "extractive (LLM fallback)")
    # Every call of an item is in its usage, the judge's included.
    judge_requests = sum(1 for r in llm_server.requests if _is_judge(r))
    assert report["summary"]["judge_calls"] == judge_requests
    assert report["summary"]["usage"]["calls"] == sum(r["usage"].get("n_calls", 0) for r in report["items"])
    assert report["summary"]["usage"]["by_step"].get("judge", {}).get("calls", 0) == judge_requests
    first_calls = report["items"][0]["usage"].get("n_calls", 0)
    assert re.search(rf"^about \d+ s for 2 items \(first item: [\d.]+ s, {first_calls} model calls?\)$",
                     proc.stderr.replace("\r", "\n"), re.M), proc.stderr  # (\r: the progress bar)
    assert "LLM configured: test-model at" in proc.stdout and "backend: " not in proc.stdout
