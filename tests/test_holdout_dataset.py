"""Validate the held-out evaluation set (evals/datasets/holdout.jsonl) against the bundled
corpus and against golden.jsonl. Fast: only parses the corpus (no index, no model).

The schema checks and helpers are those of tests/test_golden_dataset.py; this file adds what is
specific to the hold-out set: 26 test-split items, new ids, new questions, new gold papers."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from test_golden_dataset import GOLDEN, MAX_TITLE_OVERLAP, OPTIONAL, PAPER_ID, REQUIRED, title_overlap

from assistant.ingest import ingest_paths

HOLDOUT = Path(__file__).resolve().parents[1] / "evals" / "datasets" / "holdout.jsonl"

ITEM_ID = re.compile(r"h\d{3}")
EXPECTED_TYPES = {"lookup": 6, "factual": 10, "unanswerable": 10}


def read_jsonl(path: Path) -> list[dict]:
    assert path.is_file(), f"missing {path}"
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            pytest.fail(f"{path.name} line {n} is not JSON: {exc}")
        assert isinstance(row, dict), f"{path.name} line {n} is not a JSON object"
        rows.append(row)
    return rows


def normalized(question: str) -> str:
    return " ".join(question.lower().split())


@pytest.fixture(scope="module")
def items() -> list[dict]:
    return read_jsonl(HOLDOUT)


@pytest.fixture(scope="module")
def golden() -> list[dict]:
    return read_jsonl(GOLDEN)


@pytest.fixture(scope="module")
def papers(corpus_dir) -> dict:
    result = ingest_paths([corpus_dir])
    assert result.ok and not result.errors, f"bundled corpus did not parse: {result.errors}"
    return {p.id: p for p in result.papers}


def test_fields_and_values(items):
    for it in items:
        iid = it.get("id", "<no id>")
        keys = set(it)
        assert REQUIRED <= keys, f"{iid}: missing fields {sorted(REQUIRED - keys)}"
        assert keys <= REQUIRED | OPTIONAL, f"{iid}: unknown fields {sorted(keys - REQUIRED - OPTIONAL)}"
        assert isinstance(iid, str) and ITEM_ID.fullmatch(iid), f"{iid}: id must look like h001"
        assert it["split"] == "test", f"{iid}: every hold-out item is in the test split"
        assert it["type"] in EXPECTED_TYPES, f"{iid}: bad type {it['type']!r}"
        assert isinstance(it["question"], str) and len(it["question"].strip()) >= 10, f"{iid}: empty question"
        for field in ("gold_paper_ids", "gold_sentences"):
            value = it[field]
            assert isinstance(value, list) and all(isinstance(x, str) and x.strip() for x in value), \
                f"{iid}: {field} must be a list of non-empty strings"
        for pid in it["gold_paper_ids"]:
            assert PAPER_ID.fullmatch(pid), f"{iid}: malformed paper id {pid!r}"
        for s in it["gold_sentences"]:
            assert s == s.strip() and s[-1] in ".?!", f"{iid}: gold sentence is not one whole sentence: {s!r}"
        assert "methods" not in it, f"{iid}: the hold-out set has no comparison items"

        kind = it["type"]
        if kind == "factual":
            assert isinstance(it.get("answer"), str) and it["answer"].strip(), f"{iid}: factual item needs an answer"
        else:
            assert "answer" not in it, f"{iid}: only factual items have an answer"
        if kind in ("lookup", "factual"):
            assert len(it["gold_paper_ids"]) == 1, f"{iid}: {kind} item must have exactly one gold paper"
            assert it["gold_sentences"], f"{iid}: {kind} item needs gold sentences"
        if kind == "lookup":
            assert 1 <= len(it["gold_sentences"]) <= 2, f"{iid}: lookup items have 1-2 gold sentences"
        if kind == "unanswerable":
            assert it["gold_paper_ids"] == [] and it["gold_sentences"] == [], f"{iid}: unanswerable item has gold"


def test_type_counts(items):
    assert len(items) == sum(EXPECTED_TYPES.values()), f"expected 26 items, found {len(items)}"
    assert dict(Counter(it["type"] for it in items)) == EXPECTED_TYPES


def test_ids_unique_and_not_in_golden(items, golden):
    ids = Counter(it["id"] for it in items)
    assert not [i for i, c in ids.items() if c > 1], f"duplicate ids: {sorted(i for i, c in ids.items() if c > 1)}"
    clash = set(ids) & {g["id"] for g in golden}
    assert not clash, f"ids also used in golden.jsonl: {sorted(clash)}"


def test_questions_are_new(items, golden):
    golden_questions = {normalized(g["question"]): g["id"] for g in golden}
    seen: dict[str, str] = {}
    for it in items:
        key = normalized(it["question"])
        assert key not in golden_questions, f"{it['id']}: same question as golden {golden_questions[key]}"
        assert key not in seen, f"{it['id']}: same question as {seen[key]}"
        seen[key] = it["id"]


def test_gold_papers_exist_and_are_fresh(items, golden, papers):
    golden_gold = {pid for g in golden for pid in g["gold_paper_ids"]}
    for it in items:
        for pid in it["gold_paper_ids"]:
            assert pid in papers, f"{it['id']}: gold paper {pid} is not in the corpus"
            assert pid not in golden_gold, f"{it['id']}: gold paper {pid} is already gold in golden.jsonl"


def test_gold_sentences_are_verbatim(items, papers):
    for it in items:
        abstracts = [papers[pid].abstract for pid in it["gold_paper_ids"] if pid in papers]
        for s in it["gold_sentences"]:
            assert any(s in a for a in abstracts), \
                f"{it['id']}: gold sentence is not in its gold paper's abstract: {s[:80]!r}"
            for a in abstracts:  # starts at a sentence boundary
                i = a.find(s)
                assert i <= 0 or a[:i].rstrip()[-1:] in (".", "?", "!"), \
                    f"{it['id']}: gold sentence starts mid-sentence: {s[:80]!r}"


def test_lookup_questions_do_not_copy_titles(items, papers):
    for it in items:
        if it["type"] != "lookup" or it["gold_paper_ids"][0] not in papers:
            continue  # a missing paper is reported by test_gold_papers_exist_and_are_fresh
        title = papers[it["gold_paper_ids"][0]].title
        overlap = title_overlap(it["question"], title)
        assert overlap <= MAX_TITLE_OVERLAP, \
            f"{it['id']}: {overlap:.0%} of the question's content words come from the title {title!r}"


def test_loads_with_the_eval_harness(items):
    from evals.harness import load_golden

    loaded = load_golden(HOLDOUT, split="test")
    assert [i.id for i in loaded] == [it["id"] for it in items]
