"""Validate the hand-made golden evaluation set (evals/datasets/golden.jsonl) against the
bundled corpus. Fast: only parses the corpus (no index, no model)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest


PROJECT_DIR = Path(__file__).resolve().parents[1]
GOLDEN = PROJECT_DIR / "evals" / "datasets" / "golden.jsonl"

TYPES = {"lookup", "factual", "comparison", "unanswerable"}
SPLITS = {"dev", "test"}
REQUIRED = {"id", "split", "type", "question", "gold_paper_ids", "gold_sentences"}
OPTIONAL = {"methods", "answer"}
PAPER_ID = re.compile(r"[0-9a-f]{16}")
ITEM_ID = re.compile(r"q\d{3}")

# Words too generic to count when checking that a lookup question does not copy its paper's title.
STOPWORDS = {
    "which", "what", "paper", "papers", "work", "works", "study", "method", "methods", "approach",
    "does", "that", "this", "with", "from", "into", "their", "they", "them", "than", "then",
    "when", "where", "while", "about", "over", "such", "only", "each", "both", "more", "most",
    "some", "other", "these", "those", "have", "been", "being", "were", "will", "would", "could",
    "should", "using", "uses", "used", "also", "between", "without", "within", "whose", "there",
    "propose", "proposes", "proposed", "introduce", "introduces", "present", "presents",
}
MAX_TITLE_OVERLAP = 0.5


def content_words(text: str) -> set[str]:
    return {t for t in re.findall(r"[a-z]+", text.lower()) if len(t) >= 4 and t not in STOPWORDS}


def title_overlap(question: str, title: str) -> float:
    """Fraction of the question's content words that are also words of the title."""
    words = content_words(question)
    title_words = set(re.findall(r"[a-z]+", title.lower()))
    return len(words & title_words) / len(words) if words else 1.0


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


def check_item(it: dict, item_id: re.Pattern, splits, types) -> None:
    """The schema of one dataset item (shared with the hold-out set's test)."""
    iid = it.get("id", "<no id>")
    keys = set(it)
    assert REQUIRED <= keys, f"{iid}: missing fields {sorted(REQUIRED - keys)}"
    assert keys <= REQUIRED | OPTIONAL, f"{iid}: unknown fields {sorted(keys - REQUIRED - OPTIONAL)}"
    assert isinstance(iid, str) and item_id.fullmatch(iid), f"{iid}: id must look like {item_id.pattern}"
    assert it["split"] in splits, f"{iid}: bad split {it['split']!r}"
    assert it["type"] in types, f"{iid}: bad type {it['type']!r}"
    assert isinstance(it["question"], str) and len(it["question"].strip()) >= 10, f"{iid}: empty question"
    for field in ("gold_paper_ids", "gold_sentences"):
        value = it[field]
        assert isinstance(value, list) and all(isinstance(x, str) and x.strip() for x in value), \
            f"{iid}: {field} must be a list of non-empty strings"
    for pid in it["gold_paper_ids"]:
        assert PAPER_ID.fullmatch(pid), f"{iid}: malformed paper id {pid!r}"
    assert len(set(it["gold_paper_ids"])) == len(it["gold_paper_ids"]), f"{iid}: repeated gold paper"
    for s in it["gold_sentences"]:
        assert s == s.strip() and s[-1] in ".?!", f"{iid}: gold sentence is not one whole sentence: {s!r}"

    kind = it["type"]
    if kind == "comparison":
        methods = it.get("methods")
        assert isinstance(methods, list) and all(isinstance(m, str) and m.strip() for m in methods), \
            f"{iid}: comparison needs a list of method names"
        assert len(methods) == len(it["gold_paper_ids"]) >= 2, \
            f"{iid}: need >= 2 methods and exactly one gold paper per method"
        assert len(it["gold_sentences"]) == len(methods), f"{iid}: need one gold sentence per method"
        for m in methods:
            assert m.lower() in it["question"].lower(), f"{iid}: method {m!r} is not named in the question"
    else:
        assert "methods" not in it, f"{iid}: only comparison items have methods"
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


@pytest.fixture(scope="module")
def items() -> list[dict]:
    return read_jsonl(GOLDEN)


def test_fields_and_values(items):
    for it in items:
        check_item(it, ITEM_ID, SPLITS, TYPES)


def test_ids_unique_and_questions_distinct(items):
    ids = Counter(it.get("id") for it in items)
    dup_ids = sorted(i for i, c in ids.items() if c > 1)
    assert not dup_ids, f"duplicate ids: {dup_ids}"
    seen: dict[str, str] = {}
    for it in items:
        key = " ".join(it["question"].lower().split())
        assert key not in seen, f"{it['id']}: same question as {seen[key]}"
        seen[key] = it["id"]


def test_size_and_splits(items):
    assert len(items) >= 80, f"only {len(items)} items"
    by_type = Counter(it["type"] for it in items)
    assert by_type["unanswerable"] >= 15, f"only {by_type['unanswerable']} unanswerable items"
    for kind in sorted(TYPES):
        per_split = Counter(it["split"] for it in items if it["type"] == kind)
        for split in sorted(SPLITS):
            assert per_split[split] > 0, f"type {kind} has no {split} items"
        assert abs(per_split["dev"] - per_split["test"]) <= 1, f"type {kind} split unevenly: {dict(per_split)}"


def test_gold_papers_exist_and_spread(items, papers):
    uses = Counter()
    for it in items:
        for pid in it["gold_paper_ids"]:
            assert pid in papers, f"{it['id']}: gold paper {pid} is not in the corpus"
            uses[pid] += 1
    overused = {pid: n for pid, n in uses.items() if n > 2}
    assert not overused, f"papers used more than twice: {overused}"


def test_gold_sentences_are_verbatim(items, papers):
    for it in items:
        abstracts = [papers[pid].abstract for pid in it["gold_paper_ids"] if pid in papers]
        for s in it["gold_sentences"]:
            assert any(s in a for a in abstracts), \
                f"{it['id']}: gold sentence is not in any of its gold papers' abstracts: {s[:80]!r}"
            for a in abstracts:  # starts at a sentence boundary
                i = a.find(s)
                assert i <= 0 or a[:i].rstrip()[-1:] in (".", "?", "!"), \
                    f"{it['id']}: gold sentence starts mid-sentence: {s[:80]!r}"
        if it["type"] == "comparison":  # one key sentence per method, in the same order
            for pid, s in zip(it["gold_paper_ids"], it["gold_sentences"]):
                assert pid in papers and s in papers[pid].abstract, \
                    f"{it['id']}: sentence for {pid} is not from that paper's abstract: {s[:80]!r}"


def test_comparison_methods_belong_to_their_papers(items, papers):
    for it in items:
        if it["type"] != "comparison":
            continue
        for method, pid in zip(it["methods"], it["gold_paper_ids"]):
            if pid not in papers:
                continue  # reported by test_gold_papers_exist_and_spread
            text = (papers[pid].title + " " + papers[pid].abstract).lower()
            core = re.sub(r"\s*\(.*?\)", "", method).lower()  # "Once-for-All (OFA)" -> "once-for-all"
            assert core in text, f"{it['id']}: method {method!r} does not appear in paper {pid}"


def test_lookup_questions_do_not_copy_titles(items, papers):
    for it in items:
        if it["type"] != "lookup" or it["gold_paper_ids"][0] not in papers:
            continue  # a missing paper is reported by test_gold_papers_exist_and_spread
        title = papers[it["gold_paper_ids"][0]].title
        overlap = title_overlap(it["question"], title)
        assert overlap <= MAX_TITLE_OVERLAP, \
            f"{it['id']}: {overlap:.0%} of the question's content words come from the title {title!r}"
