"""Filters that say what they excluded (issue 12, item 4), over the whole bundled corpus:
most of its papers lack a year, a category, authors or code information, so a filter
leaves them out. The result counts them and offers to include them (`include_unknown`,
--include-unknown, the UI checkbox), and a filter that leaves out every paper that
answers well abstains, naming the filter and those papers, instead of quoting papers
that merely share a word with the question. Real index, real MiniLM, extractive."""

from __future__ import annotations

import json

import pytest

from assistant.records import Answer, paper_id
from assistant.retrieve import NO_CODE_FLAG, Filters, QueryError

HPM = paper_id("Hard Patches Mining for Masked Image Modeling")
HPM_TWIN = paper_id("Bootstrap Masked Visual Modeling via Hard Patches Mining")
HPM_Q = "What is hard patches mining?"
MIM_Q = "What is masked image modeling?"


@pytest.fixture(scope="module")
def pa(full_index):
    return full_index


def cited(answer: Answer) -> set[str]:
    return {c.paper_id for c in answer.citations}


def no_year(pa) -> int:
    return sum(1 for p in pa.papers if p.year is None)


# --- a filter that leaves out the papers that answer -------------------------------------------


def test_hard_patches_mining_from_2016_names_the_papers_without_a_year(pa):
    """Both hard-patches-mining papers have no year: answering from the papers from 2016 on
    quoted LLaVA-HD and PS-KD, which only share words with the question."""
    a = pa.ask(HPM_Q, filters={"year_from": 2016})
    assert a.abstained and not a.citations
    assert {HPM, HPM_TWIN} <= {s.paper.id for s in a.outside_filter}
    assert "year 2016 and later" in a.text
    assert "**Hard Patches Mining for Masked Image Modeling**: no year" in a.text
    assert all(Filters(year_from=2016).allows(s.paper) for s in a.sources)  # the closest within the filter
    assert a.filter_excluded == {"year": no_year(pa)} and no_year(pa) == 537


@pytest.mark.parametrize("filters, weak", [
    ({"year_from": 2023, "year_to": 2024}, "A Variational Perspective on Solving Inverse Problems with Diffusion Models"),
    ({"category": "CV"}, "Gradient-Guided Parameter Mask for Multi-Scenario Image Restoration Under Adverse Weather"),
], ids=["years-2023-2024", "category-CV"])
def test_masked_image_modeling_is_not_answered_from_a_paper_that_says_mask(pa, filters, weak):
    a = pa.ask(MIM_Q, filters=filters)
    assert a.abstained and not a.citations
    assert a.sources[0].paper.id == paper_id(weak)  # the best the filter keeps: it was quoted before
    assert HPM in {s.paper.id for s in a.outside_filter}
    assert Filters.coerce(filters).describe() in a.text
    assert all(not Filters.coerce(filters).allows(s.paper) for s in a.outside_filter)
    # Without the filter the same question is answered (the abstention is the filter's).
    assert not pa.ask(MIM_Q).abstained


def test_a_filter_leaving_out_nothing_that_answers_better_still_answers(pa):
    """V2X-Radar is the best paper with or without the year range: nothing changes."""
    question = "Which radar dataset supports cooperative perception?"
    radar = paper_id("V2X-Radar: A Multi-modal Dataset with 4D Radar for Cooperative Perception")
    assert pa.engine.evidence(question).sources[0].paper.id == radar
    a = pa.ask(question, filters={"year_from": 2023, "year_to": 2024})
    assert not a.abstained and not a.outside_filter and radar in cited(a)
    assert a.filter_excluded == {"year": no_year(pa)}


def test_a_filter_keeping_a_fitting_paper_answers_though_a_better_one_is_left_out(pa):
    """The unfiltered best paper (no year) is left out, but the one the filters keep
    answers nearly as well: within the margin, so it is answered."""
    question = "How can adversarial attacks be detected?"
    filters = {"year_from": 2022, "category": "CV", "author": "zhou"}
    best = pa.engine.evidence(question).sources[0].paper
    assert not Filters.coerce(filters).allows(best)
    a = pa.ask(question, filters=filters)
    assert not a.abstained and not a.outside_filter
    assert paper_id("On Trace of PGD-Like Adversarial Attacks") in cited(a)


def test_an_unanswerable_question_abstains_as_before_with_a_filter(pa):
    a = pa.ask("Who won the 2026 football world cup?", filters={"year_from": 2020})
    assert a.abstained and not a.outside_filter and "do not answer this question" in a.text


# --- including the papers that lack the field ----------------------------------------------------


def test_include_unknown_answers_from_the_papers_without_a_year(pa):
    a = pa.ask(HPM_Q, filters={"year_from": 2016, "include_unknown": True})
    assert not a.abstained and HPM in cited(a)
    assert a.filter_excluded == {}
    hits = pa.search("hard patches mining", k=3, filters={"year_from": 2016, "include_unknown": True}).hits
    assert hits[0].paper_id == HPM


def test_include_unknown_keeps_a_paper_that_has_the_field_out_of_range_out(pa):
    dated = [p for p in pa.papers if p.year is not None]
    before = min(p.year for p in dated)
    f = Filters(year_from=before + 1, include_unknown=True)
    assert not any(f.allows(p) for p in dated if p.year == before)
    assert all(f.allows(p) for p in pa.papers if p.year is None)


@pytest.mark.parametrize("value", ["yes", 1])
def test_include_unknown_must_be_true_or_false(pa, value):
    with pytest.raises(QueryError, match=rf"filter include_unknown must be true or false, not {value!r}"):
        pa.search("masked image modeling", filters={"year_from": 2020, "include_unknown": value})


# --- the counts ------------------------------------------------------------------------------------


@pytest.mark.parametrize("filters, field, lacks", [
    ({"year_from": 2016}, "year", lambda p: p.year is None),
    ({"category": "CV"}, "category", lambda p: not p.category),
    ({"author": "zhou"}, "author", lambda p: not p.authors),
    ({"has_code": True}, "has_code", lambda p: not p.has_code and {s.format for s in p.sources} <= NO_CODE_FLAG),
], ids=["year", "category", "author", "has-code"])
def test_search_counts_the_papers_left_out_for_lacking_the_field(pa, filters, field, lacks):
    result = pa.search("masked image modeling", k=3, filters=filters)
    expected = sum(1 for p in pa.papers if lacks(p))
    assert expected > 0 and result.filter_excluded == {field: expected}
    assert result.to_dict()["filter_excluded"] == {field: expected}
    assert pa.search("masked image modeling", k=3).filter_excluded == {}  # no filter, nothing left out


def test_combined_filters_count_exactly_the_papers_include_unknown_brings_back(pa):
    """A paper with no year in another category stays out with include_unknown: not counted."""
    filters = {"year_from": 2022, "category": "CV"}
    f, keep = Filters(**filters), Filters(**filters, include_unknown=True)
    back = [p for p in pa.papers if keep.allows(p) and not f.allows(p)]
    counts = pa.search("image restoration", k=3, filters=filters).filter_excluded
    assert counts == {"year": sum(p.year is None for p in back), "category": sum(not p.category for p in back)}
    assert counts["year"] < no_year(pa)  # the papers with no year but another category are not counted


def test_a_filter_matching_nothing_still_counts(pa):
    a = pa.ask(HPM_Q, filters={"year_from": 2030})
    assert a.abstained and not a.sources and a.filter_excluded == {"year": no_year(pa)}
    assert HPM in {s.paper.id for s in a.outside_filter}


# --- the CLI and the UI -----------------------------------------------------------------------------


def test_cli_prints_the_count_and_the_flag_to_include_them(papers_cli, pa):
    index = ["--index-dir", pa.settings.index_dir]
    proc = papers_cli("ask", HPM_Q, "--year-from", "2016", *index)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Within the filter (year 2016 and later), no paper answers this")
    line = f"The year filter left out {no_year(pa)} papers with no year; add --include-unknown to include them."
    assert line in proc.stderr
    proc = papers_cli("ask", HPM_Q, "--year-from", "2016", "--include-unknown", "--json", *index)
    data = json.loads(proc.stdout)
    assert data["abstained"] is False and data["filter_excluded"] == {} and data["citations"]
    proc = papers_cli("search", "hard patches mining", "--category", "CV", "--json", *index)
    assert json.loads(proc.stdout)["filter_excluded"] == {"category": sum(not p.category for p in pa.papers)}


def test_ui_shows_the_count_and_the_filter_abstention(pa):
    from assistant.ui.handlers import PaperUI
    from assistant.ui.render import INCLUDE_UNKNOWN_LABEL

    ui = PaperUI(pa)
    chat, _, answers = list(ui.respond(HPM_Q, [], [], year_from="2016"))[-1]
    final = chat[-1]["content"]
    assert "Not answered within the filters" in final and answers[0].outside_filter
    assert f"The year filter left out {no_year(pa)} papers with no year" in final and INCLUDE_UNKNOWN_LABEL in final
    chat, _, answers = list(ui.respond(HPM_Q, [], [], year_from="2016", include_unknown=True))[-1]
    assert HPM in cited(answers[0]) and "left out" not in chat[-1]["content"]
