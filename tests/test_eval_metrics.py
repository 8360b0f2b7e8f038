"""evals/metrics.py on hand-made cases whose answers are worked out in the comments.

Each metric has at least one case where a plausible wrong implementation (off-by-one
rank, wrong denominator, ideal DCG from the retrieved list, None counted as 0, ...)
gives a different number. Fast: no index, no model."""

from __future__ import annotations

import math

import pytest

from evals import metrics as M

L2 = math.log2


# --- hit@k ----------------------------------------------------------------------------------


def test_hit_at_k_cut_off_is_inclusive():
    ranked = ["a", "b", "c"]
    # "c" is at rank 3: inside the top 3, outside the top 2.
    # ranked[:k-1] would give 0 at k=3; ranked[:k+1] would give 1 at k=2.
    assert M.hit_at_k(ranked, {"c"}, 2) == 0.0
    assert M.hit_at_k(ranked, {"c"}, 3) == 1.0
    assert M.hit_at_k(ranked, {"a", "zzz"}, 1) == 1.0  # any one relevant id is enough


def test_hit_at_k_edge_cases():
    assert M.hit_at_k(["a", "b"], {"b"}, 10) == 1.0  # k larger than the list: the whole list
    assert M.hit_at_k([], {"b"}, 5) == 0.0
    assert M.hit_at_k(["a", "b"], set(), 5) == 0.0  # no gold: nothing to hit
    assert M.hit_at_k(["a"], {"a": 0}, 5) == 0.0  # relevance 0 = judged not relevant
    assert M.hit_at_k(["a"], {"a": 2.0}, 5) == 1.0
    with pytest.raises(ValueError):
        M.hit_at_k(["a"], {"a"}, 0)


# --- recall@k -------------------------------------------------------------------------------


def test_recall_at_k_denominator_is_the_gold_set():
    ranked = ["a", "x", "b", "y"]
    gold = {"a", "b", "c"}
    assert M.recall_at_k(ranked, gold, 1) == pytest.approx(1 / 3)  # a
    assert M.recall_at_k(ranked, gold, 2) == pytest.approx(1 / 3)  # a (x is not gold)
    # a, b of 3 gold: 2/3. Dividing by k (2/4 = 0.5) or by len(ranked) would be wrong.
    assert M.recall_at_k(ranked, gold, 4) == pytest.approx(2 / 3)
    assert M.recall_at_k(ranked, gold, 100) == pytest.approx(2 / 3)  # k > len(ranked)


def test_recall_at_k_edge_cases():
    assert M.recall_at_k(["a", "a", "a"], {"a", "b"}, 3) == 0.5  # a repeated id counts once: 1/2, not 3/2
    assert M.recall_at_k(["a"], set(), 5) == 0.0  # no gold
    assert M.recall_at_k(["a", "b"], {"a": 1, "b": 0, "c": 3}, 5) == 0.5  # relevant = {a, c}: 1/2


# --- reciprocal rank ------------------------------------------------------------------------


def test_reciprocal_rank_uses_one_based_rank_of_first_gold():
    # First gold "a" is at rank 3 -> 1/3 (0-based would give 1/2, counting from 2 gives 1/4).
    assert M.reciprocal_rank(["x", "y", "a", "b"], {"a", "b"}) == pytest.approx(1 / 3)
    assert M.reciprocal_rank(["b", "a"], {"a", "b"}) == 1.0
    # No cut-off: rank 12 still counts.
    assert M.reciprocal_rank([f"x{i}" for i in range(11)] + ["a"], {"a"}) == pytest.approx(1 / 12)


def test_reciprocal_rank_none_found_or_no_gold():
    assert M.reciprocal_rank(["x", "y"], {"a"}) == 0.0
    assert M.reciprocal_rank([], {"a"}) == 0.0
    assert M.reciprocal_rank(["a"], set()) == 0.0


# --- nDCG -----------------------------------------------------------------------------------


def test_ndcg_binary_hand_computed():
    # ranked x, a, y, b; gold {a, b, c}; k = 4.
    # DCG  = 1/log2(3) + 1/log2(5)           = 0.63093 + 0.43068         = 1.06161
    # IDCG = 1/log2(2) + 1/log2(3) + 1/log2(4) = 1 + 0.63093 + 0.5 (3 gold) = 2.13093
    # nDCG = 0.49819
    value = M.ndcg_at_k(["x", "a", "y", "b"], {"a", "b", "c"}, k=4)
    assert value == pytest.approx((1 / L2(3) + 1 / L2(5)) / (1 + 1 / L2(3) + 1 / L2(4)))
    assert value == pytest.approx(0.49819, abs=1e-5)


def test_ndcg_graded_textbook_example():
    # The worked example of the Wikipedia "Discounted cumulative gain" article:
    # ranked documents with relevances 3, 2, 3, 0, 1, 2 (d1..d6), and two more relevant
    # documents the system did not return (d7: 3, d8: 2).
    # DCG6  = 3 + 2/log2(3) + 3/log2(4) + 0 + 1/log2(6) + 2/log2(7)
    #       = 3 + 1.26186 + 1.5 + 0 + 0.38685 + 0.71241 = 6.86112
    # ideal order from ALL of gold: 3, 3, 3, 2, 2, 2
    # IDCG6 = 3 + 3/log2(3) + 3/2 + 2/log2(5) + 2/log2(6) + 2/log2(7)
    #       = 3 + 1.89279 + 1.5 + 0.86135 + 0.77371 + 0.71241 = 8.74026
    # nDCG6 = 6.86112 / 8.74026 = 0.78500
    # (An ideal built from the retrieved list only, 3,3,2,2,1,0 -> 7.14 -> 0.961, is wrong;
    #  exponential gains 2^rel - 1 would give yet another number.)
    gold = {"d1": 3, "d2": 2, "d3": 3, "d4": 0, "d5": 1, "d6": 2, "d7": 3, "d8": 2}
    ranked = ["d1", "d2", "d3", "d4", "d5", "d6"]
    assert M.ndcg_at_k(ranked, gold, k=6) == pytest.approx(0.78500, abs=1e-5)
    assert M.ndcg_at_k(ranked, gold, k=6) == pytest.approx(6.86112 / 8.74026, abs=1e-5)


def test_ndcg_ties_and_perfect_order():
    # Two documents of equal grade in either order both give the ideal ranking.
    gold = {"a": 2, "b": 2, "c": 1}
    assert M.ndcg_at_k(["a", "b", "c"], gold, 3) == pytest.approx(1.0)
    assert M.ndcg_at_k(["b", "a", "c"], gold, 3) == pytest.approx(1.0)
    # Swapping a grade-2 and the grade-1 document costs something:
    # DCG = 2 + 1/log2(3) + 2/2 = 3.63093; IDCG = 2 + 2/log2(3) + 1/2 = 3.76186; 0.96520
    assert M.ndcg_at_k(["a", "c", "b"], gold, 3) == pytest.approx(0.96520, abs=1e-5)


def test_ndcg_k_cuts_and_k_larger_than_list():
    # k larger than the list: ranked [a], gold {a, b}, k = 10.
    # DCG = 1; IDCG = 1 + 1/log2(3) = 1.63093 (both gold in the ideal) -> 0.61315
    assert M.ndcg_at_k(["a"], {"a", "b"}, 10) == pytest.approx(0.61315, abs=1e-5)
    # the only gold document is at rank 2 and k = 1: nothing counts.
    assert M.ndcg_at_k(["x", "a"], {"a"}, 1) == 0.0
    # k = 2: 1/log2(3) over an ideal of 1 (one gold document) = 0.63093
    assert M.ndcg_at_k(["x", "a"], {"a"}, 2) == pytest.approx(1 / L2(3))
    # ideal limited to k: 3 gold, k = 1, first is gold -> 1/1
    assert M.ndcg_at_k(["a", "b", "c"], {"a", "b", "c"}, 1) == 1.0


def test_ndcg_edge_cases():
    assert M.ndcg_at_k(["a", "a"], {"a"}, 10) == 1.0  # a repeat earns nothing (not 1.63)
    assert M.ndcg_at_k(["a"], set(), 10) == 0.0
    assert M.ndcg_at_k([], {"a"}, 10) == 0.0
    assert M.ndcg_at_k(["a", "b"], {"a": 0, "b": 0}, 10) == 0.0  # only non-relevant judgements


# --- retrieval_metrics ----------------------------------------------------------------------


def test_retrieval_metrics_keys_and_values():
    ranked = ["x", "a", "y", "z", "w", "b", "v"]
    out = M.retrieval_metrics(ranked, {"a", "b"})
    assert set(out) == {"hit@1", "hit@5", "hit@10", "recall@5", "recall@10", "mrr", "ndcg@10"}
    assert out["hit@1"] == 0.0 and out["hit@5"] == 1.0 and out["hit@10"] == 1.0
    assert out["recall@5"] == 0.5  # a of {a, b}
    assert out["recall@10"] == 1.0  # b at rank 6
    assert out["mrr"] == 0.5  # a at rank 2
    # DCG = 1/log2(3) + 1/log2(7) = 0.63093 + 0.35621; IDCG = 1 + 0.63093 -> 0.60526
    assert out["ndcg@10"] == pytest.approx((1 / L2(3) + 1 / L2(7)) / (1 + 1 / L2(3)))
    # the harness passes gold as {paper id: 1.0}: same numbers
    assert M.retrieval_metrics(ranked, {"a": 1.0, "b": 1.0}) == out


def test_retrieval_metrics_no_gold_and_custom_ks():
    assert M.retrieval_metrics(["a"], set()) == dict.fromkeys(
        ["hit@1", "hit@5", "hit@10", "recall@5", "recall@10", "mrr", "ndcg@10"])
    out = M.retrieval_metrics(["x", "a"], {"a"}, ks=(3, 1))
    assert out == {"hit@1": 0.0, "hit@3": 1.0, "recall@3": 1.0, "mrr": 0.5, "ndcg@3": pytest.approx(1 / L2(3))}


# --- lexical support and sentence matching --------------------------------------------------


def test_lexical_support_share_of_claim_words():
    claim = "Transformers improve translation quality"  # terms: transformer, improve, translation, quality
    evidence = "We show transformer models improve machine translation"
    assert M.lexical_support(claim, evidence) == 0.75  # 3 of 4 ("quality" missing)
    # Asymmetric: evidence terms we, transformer, model, improve, machine, translation (6);
    # 3 of them in the claim -> 0.5. (A Jaccard score would give 3/7 both ways.)
    assert M.lexical_support(evidence, claim) == 0.5
    assert M.lexical_support(claim, claim) == 1.0
    assert M.lexical_support(claim, "") == 0.0
    assert M.lexical_support("What is it about?", "anything at all") == 0.0  # no content word


GOLD = "The model achieves 90% accuracy on ImageNet with 8 layers."  # terms: accuracy achieve imagenet layer model


def test_sentence_match_containment_after_normalisation():
    assert M.sentence_match("  THE model   achieves 90% accuracy on ImageNet\nwith 8 layers. ", [GOLD])
    # a chunk that contains the gold sentence
    assert M.sentence_match("We propose X. " + GOLD + " Code is public.", [GOLD])
    # a fragment of the gold sentence
    assert M.sentence_match("achieves 90% accuracy", ["Unrelated first gold.", GOLD])


def test_sentence_match_lexical_threshold_tie_and_miss():
    quote = "Accuracy of our model on ImageNet is reported."  # shares accuracy, model, imagenet: 3/5 = 0.6
    assert M.lexical_support(GOLD, quote) == pytest.approx(0.6)
    assert M.sentence_match(quote, [GOLD])  # 0.6 >= 0.6: a tie at the threshold matches
    assert not M.sentence_match(quote, [GOLD], threshold=0.61)
    assert not M.sentence_match("Sparse attention reduces memory cost.", [GOLD])
    assert not M.sentence_match("", [GOLD])
    assert not M.sentence_match(GOLD, [])
    assert not M.sentence_match(GOLD, ["", "   "])


# --- citations ------------------------------------------------------------------------------


def test_citation_precision_paper_or_sentence():
    cites = [
        {"paper_id": "p1", "quote": "Anything at all."},  # gold paper -> correct
        {"paper_id": "p9", "quote": GOLD},  # not a gold paper, but quotes a gold sentence -> correct
        {"paper_id": "p8", "quote": "Sparse attention reduces memory cost."},  # wrong
    ]
    # 2 of 3. Checking the paper only would give 1/3; requiring both, 0.
    assert M.citation_precision(cites, {"p1", "p2"}, [GOLD]) == pytest.approx(2 / 3)
    # every citation counts, a repeat included: 2 correct + 1 wrong + 1 wrong again = 2/4
    assert M.citation_precision(cites + [cites[2]], {"p1", "p2"}, [GOLD]) == 0.5


def test_citation_precision_none_without_citations_and_objects_accepted():
    assert M.citation_precision([], {"p1"}, [GOLD]) is None
    from assistant.records import Citation

    c = Citation(n=1, paper_id="p1", title="T", authors=[], year=None, quote="q", start=0, end=1, source="f")
    assert M.citation_precision([c], {"p1"}, []) == 1.0
    assert M.citation_precision([c], {"p2"}, []) == 0.0


def test_citation_recall_share_of_gold_cited():
    cites = [{"paper_id": p, "quote": ""} for p in ("p1", "p2", "p1", "p9", "p8")]
    # gold p1, p2, p3: two cited -> 2/3 (dividing by the 5 citations: 0.4; by the 4 cited papers: 0.5)
    assert M.citation_recall(cites, {"p1", "p2", "p3"}) == pytest.approx(2 / 3)
    assert M.citation_recall([], {"p1"}) == 0.0  # gold but nothing cited
    assert M.citation_recall(cites, set()) is None  # no gold: undefined


# --- abstention -----------------------------------------------------------------------------


def test_abstention_metrics_mixed():
    pairs = ([(True, True)]  # answerable, abstained: false abstention
             + [(True, False)] * 3  # answerable, answered
             + [(False, True)] * 2  # unanswerable, abstained: correct
             + [(False, False)] * 2)  # unanswerable, answered: missed
    out = M.abstention_metrics(pairs)
    # abstentions 3, of them right 2 -> precision 2/3; unanswerable 4, refused 2 -> recall 1/2;
    # answerable 4, refused 1 -> false abstention 1/4. (Swapping any two denominators changes a number.)
    assert out == {"abstention_precision": pytest.approx(2 / 3), "abstention_recall": 0.5,
                   "false_abstention": 0.25, "n_answerable": 4, "n_unanswerable": 4, "n_abstained": 3}


def test_abstention_metrics_all_abstained_and_none_abstained():
    every = M.abstention_metrics([(True, True), (True, True), (False, True)])
    assert every["abstention_precision"] == pytest.approx(1 / 3)
    assert every["abstention_recall"] == 1.0 and every["false_abstention"] == 1.0
    never = M.abstention_metrics([(True, False), (False, False)])
    # no abstention: precision undefined (None, not 1.0), recall 0, no false abstention
    assert never["abstention_precision"] is None
    assert never["abstention_recall"] == 0.0 and never["false_abstention"] == 0.0


def test_abstention_metrics_one_sided_and_empty():
    only_answerable = M.abstention_metrics([(True, False), (True, True)])
    assert only_answerable["abstention_recall"] is None  # no unanswerable question
    assert only_answerable["false_abstention"] == 0.5
    assert only_answerable["abstention_precision"] == 0.0
    only_unanswerable = M.abstention_metrics([(False, True)])
    assert only_unanswerable["false_abstention"] is None
    empty = M.abstention_metrics([])
    assert empty["abstention_precision"] is None and empty["abstention_recall"] is None
    assert empty["false_abstention"] is None and empty["n_answerable"] == empty["n_unanswerable"] == 0


# --- faithfulness ---------------------------------------------------------------------------


def test_faithfulness_best_quote_and_uncited_sentences():
    pairs = [
        ("The model achieves 90% accuracy on ImageNet.", [GOLD]),  # 4/4 -> supported
        ("Transformers improve translation quality.",  # best of two quotes: 0.0 and 0.75 -> supported
         ["Sparse attention reduces memory cost.", "We show transformer models improve machine translation"]),
        ("Sparse attention reduces memory cost.", []),  # no quote -> unsupported
        ("Transformers improve translation quality.", ["Sparse attention reduces memory cost."]),  # 0 -> no
    ]
    # 2 of 4. Scoring only the first quote gives 1/4; skipping uncited sentences gives 2/3.
    assert M.faithfulness(pairs) == 0.5


def test_faithfulness_scorer_threshold_tie_and_empty():
    pairs = [("a", ["x"]), ("b", ["y", "z"]), ("c", ["w"])]
    scores = {"x": 0.5, "y": 0.2, "z": 0.49, "w": 0.9}

    def scorer(claim: str, evidence: str) -> float:
        return scores[evidence]

    # a: 0.5 >= 0.5 (a tie is supported), b: best 0.49 < 0.5, c: 0.9 -> 2/3
    assert M.faithfulness(pairs, scorer=scorer) == pytest.approx(2 / 3)
    assert M.faithfulness(pairs, scorer=scorer, threshold=0.95) == 0.0
    assert M.faithfulness([]) is None
    assert M.faithfulness([("Only claim.", [])]) == 0.0


# --- comparison tables ----------------------------------------------------------------------


def _cell(text: str, n_cites: int = 0) -> dict:
    return {"text": text, "citations": [{"n": i + 1, "paper_id": f"p{i}"} for i in range(n_cites)]}


def test_table_coverage_counts():
    table = {"methods": ["A", "B"], "rows": [
        {"row": "Approach", "cells": {"A": _cell("Uses X.", 1), "B": _cell("Uses Y.", 2)}},
        {"row": "Key claims / results", "cells": {"A": _cell("Faster.", 1), "B": _cell("Better.", 0)}},
        {"row": "Limitations / assumptions", "cells": {
            "A": _cell("Not stated in the indexed abstracts", 1),  # not filled, citations or not
            "B": _cell("no indexed abstract mentions B")}},
    ]}
    # 6 cells; filled 4 (two of the 6 are placeholders); cited 3 (filled with >= 1 citation).
    # coverage = 3/6 = 0.5 (dividing by the filled cells would give 0.75).
    assert M.table_coverage(table) == {"cells": 6, "filled": 4, "cited": 3, "coverage": 0.5}


def test_table_citation_precision_checks_each_cell_against_its_own_method():
    cite = lambda *pids: {"text": "x", "citations": [{"paper_id": p} for p in pids]}  # noqa: E731
    table = {"methods": ["A", "B"], "rows": [
        {"row": "Approach", "cells": {"A": cite("pa"), "B": cite("pa", "pb")}},  # B citing A's paper: wrong
        {"row": "Year", "cells": {"A": cite("pa"), "B": cite("pb")}},
    ]}
    # 5 citations: pa (A), pa (B, wrong), pb (B), pa (A), pb (B) -> 4/5. A "cited paper is any
    # gold paper" reading would give 5/5.
    assert M.table_citation_precision(table, {"A": "pa", "B": "pb"}) == pytest.approx(0.8)
    assert M.table_citation_precision(table, {"A": "pa"}) == pytest.approx(2 / 5)  # B has no gold paper
    assert M.table_citation_precision({"methods": ["A"], "rows": [{"row": "r", "cells": {"A": cite()}}]},
                                      {"A": "pa"}) is None


def test_table_coverage_missing_cells_and_empty_table():
    table = {"methods": ["A", "B"], "rows": [{"row": "Approach", "cells": {"A": _cell("Uses X.", 1)}}]}
    assert M.table_coverage(table) == {"cells": 2, "filled": 1, "cited": 1, "coverage": 0.5}
    assert M.table_coverage({"methods": [], "rows": []}) == {"cells": 0, "filled": 0, "cited": 0, "coverage": None}
    assert M.table_coverage({"methods": ["A"], "rows": [{"row": "r", "cells": {"A": _cell("  ", 1)}}]})["filled"] == 0


def test_table_coverage_reads_a_real_comparison_and_its_placeholders():
    import assistant.answer.compare as C
    from assistant.records import Citation

    cite = Citation(n=1, paper_id="p1", title="T", authors=[], year=None, quote="q", start=0, end=1, source="f")
    cells = {"Approach": {"A": C.Cell("Uses X.", [cite]), "B": C.Cell("no indexed abstract mentions B")},
             "Year": {"A": C.Cell("2020", [cite]), "B": C.Cell(C.NOT_STATED)}}
    comp = C.Comparison(methods=["A", "B"], rows=["Approach", "Year"], cells=cells, sources=[], papers={})
    assert M.table_coverage(comp.to_dict()) == {"cells": 4, "filled": 2, "cited": 2, "coverage": 0.5}


# --- aggregation ----------------------------------------------------------------------------


def test_percentiles_linear_interpolation():
    # sorted 1, 2, 3, 4: p50 at position 1.5 -> 2.5; p95 at position 2.85 -> 3 + 0.85 = 3.85
    # (nearest-rank would give 2 and 4).
    assert M.percentiles([4, 1, 3, 2]) == {"p50": 2.5, "p95": pytest.approx(3.85)}
    assert M.percentiles([7.0]) == {"p50": 7.0, "p95": 7.0}
    assert M.percentiles([]) == {}
    assert M.percentiles([None, 1.0, 3.0], ps=(50, 99.9)) == {"p50": 2.0, "p99.9": pytest.approx(2.998)}
    assert M.percentiles([None]) == {}


def test_mean_ignores_none():
    assert M.mean([1, None, 2]) == 1.5  # None counted as 0 would give 1.0
    assert M.mean([]) is None
    assert M.mean([None, None]) is None
    assert M.mean([True, False, True]) == pytest.approx(2 / 3)
    assert M.mean(x for x in (0.5,)) == 0.5  # any iterable


def test_group_means_per_group_and_all():
    rows = [{"type": "lookup", "hit": 1.0, "x": 3},
            {"type": "lookup", "hit": 0.0},
            {"type": "factual", "hit": 1.0, "x": None},
            {"type": "comparison"},
            {"hit": 0.0}]  # no group: counts in "all" only
    out = M.group_means(rows, "type", ["hit", "x"])
    assert list(out) == ["lookup", "factual", "comparison", "all"]
    assert out["lookup"] == {"hit": 0.5, "x": 3.0}
    assert out["factual"] == {"hit": 1.0, "x": None}
    assert out["comparison"] == {"hit": None, "x": None}
    # "all" is the mean over rows (1 + 0 + 1 + 0) / 4 = 0.5, not the mean of the group means
    # (0.5 + 1.0) / 2 = 0.75.
    assert out["all"] == {"hit": 0.5, "x": 3.0}
    rows[3]["hit"] = 1.0  # now (1 + 0 + 1 + 1 + 0) / 5 = 0.6; group means average to 0.833
    assert M.group_means(rows, "type", ["hit"])["all"]["hit"] == pytest.approx(0.6)
    assert M.group_means([], "type", ["hit"]) == {"all": {"hit": None}}
    with pytest.raises(ValueError):
        M.group_means([{"type": "all", "hit": 1}], "type", ["hit"])


def test_rationale_hit_and_same_sentence():
    """A quote hits a rationale when one contains the other or they share 60% of the
    shorter one's words (SciFact splits sentences differently); abstaining scores 0;
    an item without rationales is not scored."""
    from evals.metrics import rationale_hit, same_sentence

    r = ["Of the 32,441 appendix samples 16 were positive for abnormal PrP."]
    assert same_sentence("RESULTS Of the 32,441 appendix samples 16 were positive for abnormal PrP.", r[0])
    assert same_sentence("Of the 32,441 samples 16 were positive for abnormal PrP", r[0])
    assert not same_sentence("The prevalence was lower than expected.", r[0])
    assert rationale_hit(["The prevalence was lower.", r[0].upper().lower()], r, abstained=False) == 1.0
    assert rationale_hit(["The prevalence was lower."], r, abstained=False) == 0.0
    assert rationale_hit([r[0]], r, abstained=True) == 0.0
    assert rationale_hit([r[0]], [], abstained=False) is None


# --- the LLM judge's verdicts, and who wrote an answer ----------------------------------------

JUDGE_PROMPT = ("You check whether a claim is supported by evidence quoted from a paper abstract.\n"
                "Reply with one word: SUPPORTED if the evidence states or directly implies the claim,\n"
                "otherwise UNSUPPORTED.\nEvidence:\n<evidence>\nWe cut memory use.\n</evidence>\n\n"
                "Claim: It cuts memory.\n\nVerdict:")


@pytest.mark.parametrize("reply, expected", [
    ("SUPPORTED", True), ("supported.", True), ("**Supported**", True), ("  `SUPPORTED`\n", True),
    ("Verdict: SUPPORTED", True), ("Final answer: **UNSUPPORTED**", False), ("UNSUPPORTED", False),
    ("Unsupported - the evidence", False), ("Not supported.", False), ("SUPPORTED\n\nThe evidence says", True),
    ("", None), ("   ", None), ("**", None), ("I think it is SUPPORTED", None), ("Yes", None),
    ("SUPPORTED or UNSUPPORTED", None), ("supportedness", None),
])
def test_parse_verdict_reads_one_word_after_stripping_markup(reply, expected):
    assert M.parse_verdict(reply, prompt=JUDGE_PROMPT) is expected


def test_parse_verdict_refuses_an_echo_of_the_prompt():
    # The instruction echoed starts with a verdict word; only the prompt shows it is an echo.
    assert M.parse_verdict("SUPPORTED if the evidence states", prompt=JUDGE_PROMPT) is None
    assert M.parse_verdict("SUPPORTED if the evidence states", prompt=None) is True
    assert M.parse_verdict("Evidence: <evidence> We cut memory use.", prompt=JUDGE_PROMPT) is None
    assert M.parse_verdict(JUDGE_PROMPT, prompt=JUDGE_PROMPT) is None
    # A lone verdict word is in the prompt too, and is still a verdict.
    assert M.parse_verdict("UNSUPPORTED.", prompt=JUDGE_PROMPT) is False


def test_judged_faithfulness_stops_at_support_and_leaves_no_verdict_unscored():
    asked = []
    verdicts = {"good": True, "bad": False, "broken": None}

    def verdict(sentence, quote):
        asked.append((sentence, quote))
        return verdicts[quote]

    pairs = [("s1", ["bad", "good", "broken"]),  # supported at the 2nd quote: the 3rd is not asked
             ("s2", ["bad", "bad"]),             # unsupported
             ("s3", []),                         # cites nothing: unsupported, nothing asked
             ("s4", ["broken", "bad"]),          # no support, one without verdict: unscored
             ("s5", ["broken", "good"])]         # supported despite the failed first call
    out = M.judged_faithfulness(pairs, verdict)
    assert out == {"score": 2 / 4, "sentences": 5, "supported": 2, "unsupported": 2, "unscored": 1}
    assert ("s1", "broken") not in asked and len(asked) == 8
    everything_failed = M.judged_faithfulness([("s", ["broken"]), ("t", ["broken", "broken"])], verdict)
    assert everything_failed["score"] is None and everything_failed["unscored"] == 2  # None, never 0
    assert M.judged_faithfulness([], verdict)["score"] is None


@pytest.mark.parametrize("backend, fallback, origin", [
    ("llm:gpt-4o-mini", None, "model_written"), ("llm:qwen2.5:0.5b", None, "model_written"),
    ("extractive (LLM fallback)", "the model cited nothing", "fallback"),
    ("extractive (LLM fallback)", None, "fallback"), ("llm:m", "rejected after checks", "fallback"),
    ("extractive", None, "no_model"), (None, None, "no_model"), ("", None, "no_model"),
])
def test_answer_origin(backend, fallback, origin):
    assert M.answer_origin(backend, fallback) == origin
