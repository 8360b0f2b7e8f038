"""Validate the held-out evaluation set (evals/datasets/holdout.jsonl) against the bundled
corpus and against golden.jsonl. Fast: only parses the corpus (no index, no model).

The schema checks and helpers are those of tests/test_golden_dataset.py; this file adds what is
specific to the hold-out set: 26 test-split items, new ids, new questions, new gold papers."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from test_golden_dataset import GOLDEN, check_item, read_jsonl
# The golden set's title-copy and gold-sentence tests, collected here again with this
# module's `items` and `papers`.
from test_golden_dataset import test_gold_sentences_are_verbatim  # noqa: F401
from test_golden_dataset import test_lookup_questions_do_not_copy_titles  # noqa: F401


HOLDOUT = Path(__file__).resolve().parents[1] / "evals" / "datasets" / "holdout.jsonl"

ITEM_ID = re.compile(r"h\d{3}")
EXPECTED_TYPES = {"lookup": 6, "factual": 10, "unanswerable": 10}


def normalized(question: str) -> str:
    return " ".join(question.lower().split())


@pytest.fixture(scope="module")
def items() -> list[dict]:
    return read_jsonl(HOLDOUT)


@pytest.fixture(scope="module")
def golden() -> list[dict]:
    return read_jsonl(GOLDEN)


def test_fields_and_values(items):
    for it in items:
        check_item(it, ITEM_ID, {"test"}, set(EXPECTED_TYPES))  # every hold-out item is in the test split
        assert "methods" not in it, f"{it['id']}: the hold-out set has no comparison items"


def test_type_counts(items):
    assert len(items) == sum(EXPECTED_TYPES.values()), f"expected 26 items, found {len(items)}"
    assert dict(Counter(it["type"] for it in items)) == EXPECTED_TYPES


def test_ids_unique(items):  # (h001..., never golden's q001...: check_item holds them to ITEM_ID)
    ids = Counter(it["id"] for it in items)
    assert not [i for i, c in ids.items() if c > 1], f"duplicate ids: {sorted(i for i, c in ids.items() if c > 1)}"


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


def test_loads_with_the_eval_harness(items):
    from evals.harness import load_golden

    loaded = load_golden(HOLDOUT, split="test")
    assert [i.id for i in loaded] == [it["id"] for it in items]
