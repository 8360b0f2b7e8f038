"""The answer engine over the whole bundled corpus, extractive backend (no key):
grounded answers with checked citations, abstention, comparison tables,
follow-ups, bad questions, and the CLI. Real index, real MiniLM (slow), except where
only the CLI's handling of bad input is checked (the corpus indexed with the FAKE
embedder of tests/fake_embedder.py)."""

from __future__ import annotations

import json

import pytest

from assistant.answer.citations import check, normalize_markers
from assistant.answer.text import markers, sentence_spans, sentences
from assistant.answer.compare import NOT_STATED, ROW_NAMES, methods_in_question
from assistant.records import Answer, Source, paper_id
from assistant.retrieve import QueryError
from fake_embedder import fake_model_env

HPM_Q = "What is hard patches mining in masked image modeling?"
HPM = paper_id("Hard Patches Mining for Masked Image Modeling")
ADAHESSIAN = paper_id("ADAHESSIAN: An Adaptive Second Order Optimizer for Machine Learning")
MFAC = paper_id("M-FAC: Efficient Matrix-Free Approximations of Second-Order Information")


@pytest.fixture(scope="module")
def pa(full_index):
    return full_index


@pytest.fixture(scope="module")
def hpm_answer(pa) -> Answer:
    return pa.ask(HPM_Q)


def assert_grounded(answer: Answer, pa) -> None:
    """Every citation quotes its paper verbatim at its span, names a source of the
    answer, and every sentence of the answer carries a marker."""
    by_n = {s.n: s.paper for s in answer.sources}
    assert answer.citations
    for c in answer.citations:
        paper = pa.index.paper_by_id[c.paper_id]
        assert by_n[c.n].id == c.paper_id
        assert paper.abstract[c.start:c.end] == c.quote and c.quote
        assert (c.title, c.year, c.authors) == (paper.title, paper.year, paper.authors)
    assert set(markers(answer.text)) == {c.n for c in answer.citations}
    _, per_sentence, checks = check(answer.text, answer.sources)
    assert checks.ok and not checks.uncited_sentences and all(per_sentence)


def test_hard_patches_question_is_answered_from_that_paper(hpm_answer, pa):
    a = hpm_answer
    assert not a.abstained and a.backend == "extractive"
    assert a.sources[0].paper.id == HPM
    assert a.text.startswith("**Hard Patches Mining for Masked Image Modeling**")
    assert "we propose Hard Patches Mining (HPM)" in a.text
    assert {c.paper_id for c in a.citations} >= {HPM}
    assert_grounded(a, pa)
    assert a.timings["total"] > 0 and a.usage == {}


def test_answer_json_has_the_documented_names(hpm_answer):
    data = json.loads(json.dumps(hpm_answer.to_dict()))
    assert {"answer", "citations", "sources", "abstained", "timings", "usage"} <= set(data)
    for c in data["citations"]:
        assert {"n", "paper_id", "title", "authors", "year", "quote"} <= set(c)
    assert data["answer"] == hpm_answer.text
    assert hpm_answer.citations[0].title == data["citations"][0]["title"]


@pytest.mark.parametrize("question", [
    "Who won the 2026 football world cup?",
    "What is a good recipe for sourdough bread?",
    "Which party won the last parliamentary election in Portugal?",
])
def test_out_of_scope_questions_abstain_and_list_the_closest_papers(pa, question):
    a = pa.ask(question)
    assert a.abstained
    assert a.text.startswith("The indexed abstracts do not answer this question:")
    assert not a.citations and not markers(a.text)
    assert a.sources and a.confidence < pa.engine.threshold(question)
    assert a.sources[0].paper.title in a.text  # the closest papers are listed


def test_lookup_questions_lead_with_the_paper(pa):
    a = pa.ask("Which paper proposes an adaptive second order optimizer that estimates the Hessian diagonal?")
    assert a.text.startswith("The best match is **ADAHESSIAN")
    assert a.citations[0].paper_id == ADAHESSIAN
    assert_grounded(a, pa)


def test_streaming_gives_the_same_answer(pa):
    question = "What is masked image modeling?"  # answered from two papers: two paragraphs
    stream = pa.ask(question, stream=True)
    parts = list(stream)
    assert len(parts) >= 2  # paragraph by paragraph
    assert "".join(parts).strip() == stream.answer.text == pa.ask(question).text


@pytest.mark.parametrize("question, message", [
    ("", "empty question"),
    ("   \n\t ", "empty question"),
    ("what is the which of and?", "no words to search for"),
])
def test_bad_questions_are_clear_errors(pa, question, message):
    with pytest.raises(QueryError, match=message):
        pa.ask(question)


def test_a_10000_character_question_is_cut_with_a_notice(pa):
    question = ("hard patches mining for masked image modeling " * 250)[:10_000]
    a = pa.ask(question)
    assert any("question cut from 10000" in n for n in a.notices)
    assert a.sources and a.sources[0].paper.id == HPM


def test_filters_apply_to_answers(pa):
    a = pa.ask(HPM_Q, filters={"year_from": 2030})
    assert a.abstained and not a.sources
    with pytest.raises(QueryError, match="unknown filter"):
        pa.ask(HPM_Q, filters={"colour": "red"})


# --- citation checking (unit) ---------------------------------------------------------------


def _sources(pa, n):
    return [Source(i + 1, p, 1.0) for i, p in enumerate(pa.papers[:n])]


def test_markers_pointing_at_no_source_are_removed_and_reported(pa):
    text, per_sentence, checks = check("HPM masks hard patches [1]. It also predicts losses [2][7]. "
                                       "Nothing cites this", _sources(pa, 3))
    assert text == "HPM masks hard patches [1]. It also predicts losses [2]. Nothing cites this"
    assert checks.removed_markers == ["[7]"]
    assert checks.uncited_sentences == ["Nothing cites this"]
    assert per_sentence == [[1], [2], []] and not checks.ok


def test_marker_forms_are_normalised():
    assert normalize_markers("A claim. [1] Next one [2, 3].") == "A claim [1]. Next one [2][3]."
    assert sentence_spans(normalize_markers("First claim. [1][2] Second claim. [3]"))[1][0] > 0
    assert markers("x [1] y [2, 3] z [4][5]") == [1, 2, 3, 4, 5]


# --- comparison -------------------------------------------------------------------------------


def test_compare_builds_a_cited_table(pa):
    table = pa.compare(["ADAHESSIAN", "M-FAC"])
    assert table.methods == ["ADAHESSIAN", "M-FAC"] and table.rows == ROW_NAMES
    assert table.papers == {"ADAHESSIAN": [1], "M-FAC": [2]}
    own = {"ADAHESSIAN": ADAHESSIAN, "M-FAC": MFAC}
    filled = 0
    for row in table.rows:
        for method in table.methods:
            cell = table.cells[row][method]
            if cell.text == NOT_STATED:
                assert not cell.citations
                continue
            filled += 1
            assert cell.citations and {c.paper_id for c in cell.citations} == {own[method]}
            for c in cell.citations:
                if c.quote:  # sentence cells quote their paper; the year cell cites the record
                    assert pa.index.paper_by_id[c.paper_id].abstract[c.start:c.end] == c.quote == cell.text
    assert filled >= 6
    approach = table.cells["Approach"]["ADAHESSIAN"].text
    assert approach.startswith("We introduce ADAHESSIAN, a second order stochastic optimization algorithm")
    md = table.markdown()
    assert md.splitlines()[0] == "| | ADAHESSIAN | M-FAC |"
    assert "[1] ADAHESSIAN: An Adaptive Second Order Optimizer" in md
    table_only = table.markdown(sources=False)
    assert md.startswith(table_only + "\n\nSources:\n") and "Sources:" not in table_only
    data = json.loads(json.dumps(table.to_dict()))
    assert data["methods"] == ["ADAHESSIAN", "M-FAC"] and data["markdown"] == md
    assert {r["row"] for r in data["rows"]} == set(ROW_NAMES)
    assert all({"text", "citations"} <= set(cell) for r in data["rows"] for cell in r["cells"].values())


def test_compare_questions_are_routed_to_the_table(pa):
    assert methods_in_question("How does ADAHESSIAN differ from M-FAC?") == ["ADAHESSIAN", "M-FAC"]
    assert methods_in_question("What is the difference between SAM and ASAM?") == ["SAM", "ASAM"]
    assert methods_in_question("compare ADAHESSIAN, M-FAC and K-FAC") == ["ADAHESSIAN", "M-FAC", "K-FAC"]
    assert methods_in_question(HPM_Q) is None
    assert methods_in_question("Which paper compares optimizers?") is None
    assert methods_in_question("ADAHESSIAN vs M-FAC") == ["ADAHESSIAN", "M-FAC"]
    assert methods_in_question("Which paper studies transformers vs CNNs?") is None
    a = pa.ask("Compare ADAHESSIAN and M-FAC")
    assert a.table is not None and a.table.methods == ["ADAHESSIAN", "M-FAC"]
    assert a.text == a.table.markdown() and a.citations and not a.abstained


def test_compare_with_bad_methods(pa):
    with pytest.raises(QueryError, match="at least two methods"):
        pa.compare(["ADAHESSIAN"])
    with pytest.raises(QueryError, match="named twice"):
        pa.compare(["M-FAC", "m-fac"])
    with pytest.raises(QueryError, match="no indexed abstract mentions"):
        pa.compare(["Zorblax", "Quuxformer"])
    table = pa.compare(["ADAHESSIAN", "Zorblax"])
    assert table.notices == ["No indexed abstract mentions Zorblax; its column is empty."]
    assert all(table.cells[row]["Zorblax"].text == "no indexed abstract mentions Zorblax" for row in table.rows)
    assert table.cells["Approach"]["ADAHESSIAN"].citations


# --- follow-ups -------------------------------------------------------------------------------


def test_follow_up_resolves_the_second_source(pa, hpm_answer):
    from assistant.answer.chat import referents

    target = referents(hpm_answer)[1]  # the second paper a reader met: cited ones, then the other sources
    a = pa.chat("What does the second one predict?", [hpm_answer])
    assert target.title in a.standalone_question
    assert {s.paper.id for s in a.sources} == {target.id}
    assert all(c.paper_id == target.id for c in a.citations)


def test_follow_up_compare_it_to_the_second_one(pa, hpm_answer):
    a = pa.chat("How does it compare to the second one?", [hpm_answer])
    assert a.table is not None and len(a.table.methods) == 2
    first = hpm_answer.citations[0].paper_id
    assert a.table.sources[0].paper.id == first


def test_follow_up_with_text_only_history(pa, hpm_answer):
    """A chat UI keeps messages, not Answer objects: titles in bold are enough."""
    history = [{"role": "user", "content": HPM_Q}, {"role": "assistant", "content": hpm_answer.text}]
    a = pa.chat("What does it predict?", history)
    assert a.standalone_question and '(about "Hard Patches Mining for Masked Image Modeling")' in a.standalone_question
    assert {s.paper.id for s in a.sources} == {HPM}


def test_a_new_question_in_a_chat_is_not_rewritten(pa, hpm_answer):
    a = pa.chat("Which paper proposes an adaptive second order optimizer?", [hpm_answer])
    assert a.standalone_question is None
    assert a.citations[0].paper_id == ADAHESSIAN


# --- CLI ------------------------------------------------------------------------------------------


def test_cli_ask_and_compare(papers_main, pa):
    index = ["--index-dir", pa.settings.index_dir]
    proc = papers_main("ask", HPM_Q, *index)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("**Hard Patches Mining for Masked Image Modeling**")
    assert "\nSources:\n[1] Hard Patches Mining for Masked Image Modeling" in proc.stdout
    proc = papers_main("ask", "Who won the 2026 football world cup?", "--json", *index)
    data = json.loads(proc.stdout)
    assert data["abstained"] is True and data["citations"] == [] and data["sources"]
    proc = papers_main("compare", "ADAHESSIAN", "M-FAC", "--json", *index)
    data = json.loads(proc.stdout)
    assert data["methods"] == ["ADAHESSIAN", "M-FAC"] and data["markdown"].startswith("| | ADAHESSIAN | M-FAC |")
    assert all(c["citations"] for r in data["rows"] for c in r["cells"].values() if c["text"] != NOT_STATED)


@pytest.mark.parametrize("args, message", [(("ask", "  "), "empty question"),
                                           (("compare", "ADAHESSIAN"), "at least two methods")])
def test_cli_bad_questions_exit_2_with_a_message(corpus_index, papers_main, llm_server, args, message):
    proc = papers_main(*args, "--index-dir", corpus_index.settings.index_dir, env=fake_model_env(llm_server))
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and message in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("message, picked", [
    ("What does the second one predict?", ["B"]),
    ("and the latter?", ["C"]),
    ("what about paper 2 and [3]", ["B", "C"]),
    ("How does it compare to the second one?", ["A", "B"]),
    ("What dataset does it use?", ["A"]),
    ("Which paper proposes an adaptive second order optimizer?", []),
    ("Are first-order methods enough?", []),
    ("Which works study graph neural networks?", []),
    # New questions with a relative "that" are not follow-ups.
    ("Which papers show that pruning helps transformers?", []),
    ("Are there papers on diffusion models for audio that release code?", []),
    ("Is pruning better than distillation for models that must run on phones?", []),
    ("What are the limitations of this method?", ["A"]),
    ("What about that?", ["A"]),
])
def test_follow_up_references(message, picked):
    from assistant.answer.chat import resolve
    from assistant.records import Paper

    previous = [Paper(title=t, abstract="x") for t in ("A", "B", "C")]
    resolved = resolve(message, previous)
    assert [p.title for p in resolved.papers] == picked
    assert resolved.compare == (picked == ["A", "B"])


def without_sentence_vectors(pa, folder, make_assistant):
    """A copy of the index as an older version wrote it: no sentence vectors in the folder
    (the manifest names no table), so answers embed sentences on demand."""
    import shutil

    copy = folder / pa.settings.index_name
    shutil.copytree(pa.settings.index_path, copy)
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    shutil.rmtree(copy / manifest["files"].pop("sentences"))
    manifest.pop("sentence_embedding", None)
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    old = make_assistant(folder)
    assert old.index.exists and len(old.index.sentences) == 0
    return old


def test_concurrent_questions_get_their_own_answers(pa, make_real_assistant, tmp_path):
    """The UI answers several sessions at once on one PaperAssistant. Run on an index
    without stored sentence vectors, so the threads share the on-demand cache and its lock."""
    from concurrent.futures import ThreadPoolExecutor

    pa = without_sentence_vectors(pa, tmp_path, make_real_assistant)
    before = pa.engine.vectors.embedded
    questions = [HPM_Q, "Which paper proposes an adaptive second order optimizer that estimates the Hessian diagonal?",
                 "What ImageNet top-1 accuracy does EfficientNet-B7 reach?"] * 2
    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = list(pool.map(pa.ask, questions))
    for question, answer in zip(questions, answers):
        assert answer.question == question and not answer.abstained
        assert_grounded(answer, pa)
    assert answers[0].citations[0].paper_id == HPM and answers[1].citations[0].paper_id == ADAHESSIAN
    assert "84.3% top-1 accuracy" in answers[2].text
    assert pa.engine.vectors.embedded > before  # the sentences came through the shared cache


TOKEN_CRISIS = paper_id("To Repeat or Not To Repeat: Insights from Scaling LLM under Token-Crisis")


def test_a_quantity_the_abstract_does_not_state_is_not_answered(pa):
    # The token-crisis abstract says dropout helps but gives no rate: a near miss
    # that the evidence confidence alone would answer with the dropout sentence.
    a = pa.ask("Which dropout rate is recommended by the token-crisis study on repeating pre-training data?")
    assert a.abstained and not a.citations
    assert a.text.startswith("The closest abstracts do not state this (dropout rate)")
    assert a.sources[0].paper.id == TOKEN_CRISIS and a.sources[0].paper.title in a.text
    assert a.confidence >= pa.engine.threshold(a.question)  # the check, not the threshold, abstained


def test_a_stated_quantity_is_answered_with_the_sentence_giving_it(pa):
    # Without the check, a sentence that only mentions MAE and masking is quoted first.
    from assistant.answer.asked import asked_quantities, states

    question = "What masking ratio do masked autoencoders (MAE) use?"
    a = pa.ask(question)
    assert not a.abstained
    [focus] = asked_quantities(question)
    assert all(states(focus, c.quote) for c in a.citations)  # every quote gives a value
    assert "75%" in a.citations[0].quote
    assert_grounded(a, pa)


def test_a_partly_stated_question_is_answered_with_a_notice(pa):
    a = pa.ask("How many encoder and decoder layers does GNMT have, and how many GPUs was it trained on?")
    assert not a.abstained
    assert any("8 encoder and 8 decoder layers" in c.quote for c in a.citations)
    assert any("give no value for: GPUs" in n for n in a.notices)


def test_a_quantity_of_a_named_paper_is_not_answered_from_another_paper(pa):
    # ColorMAE's abstract gives no masking ratio; other masked-autoencoder papers
    # retrieved with it do. The question names ColorMAE, so their ratios do not answer it.
    from assistant.answer.asked import asked_quantities, states

    question = "What masking ratio does ColorMAE use?"
    a = pa.ask(question)
    assert a.abstained and a.text.startswith("The closest abstracts do not state this (masking ratio)")
    assert a.sources[0].paper.title.startswith("ColorMAE")
    [focus] = asked_quantities(question)
    others = [s.paper for s in a.sources[1:]]
    assert any(states(focus, sentence) for p in others for sentence in sentences(p.abstract))


def test_sentence_vectors_follow_a_changed_abstract(pa):
    """A re-ingest can replace a paper's abstract under the same id (same title):
    the cached vector of the old sentence must not stand for the new one."""
    from dataclasses import replace

    import numpy as np

    paper = pa.index.paper_by_id[HPM]
    old = pa.engine.vectors.get([(paper, 0, 40)])[0]
    changed = replace(paper, abstract="Graph neural networks on molecules. " + paper.abstract)
    new = pa.engine.vectors.get([(changed, 0, 40)])[0]
    assert paper.abstract[:40] != changed.abstract[:40]
    assert float(np.dot(old, new)) < 0.9
    assert np.allclose(pa.engine.vectors.get([(paper, 0, 40)])[0], old)


def test_papers_named_by_a_quoted_title_are_found_with_or_without_apostrophes():
    from types import SimpleNamespace

    from assistant.answer.evidence import quoted_papers
    from assistant.records import Paper

    papers = [Paper(title=t, abstract="An abstract.") for t in (
        "Scaling Laws for Neural Language Models", "A Dynamical Model of Neural Scaling Laws",
        "Attention Isn't All You Need")]
    index = SimpleNamespace(paper_by_id={p.id: p for p in papers})

    def quoted(question: str) -> list[str]:
        return quoted_papers(index, question)

    first = [papers[0].id]
    assert quoted("According to 'Scaling Laws for Neural Language Models', what is efficient?") == first
    assert quoted("What's in ‘scaling laws for neural language models’?") == first  # case, curly quotes
    assert quoted('Compare "Scaling Laws for Neural Language Models" and "A Dynamical Model of Neural '
                  'Scaling Laws".') == [p.id for p in papers[:2]]
    assert quoted("What does \"Attention Isn't All You Need\" claim?") == [papers[2].id]  # apostrophe inside
    assert quoted("What do scaling laws for neural language models say?") == []  # not quoted
    assert quoted("What does 'Scaling Laws' say?") == []  # not a whole title


def test_a_question_quoting_a_title_is_answered_from_that_paper(pa):
    """The near-duplicate 'Bootstrap Masked Visual Modeling via Hard Patches Mining' shares
    most of HPM's words; quoting HPM's title must keep its sentences out."""
    question = "What does 'Hard Patches Mining for Masked Image Modeling' propose to mine?"
    a = pa.ask(question)
    assert not a.abstained and a.citations
    assert {c.paper_id for c in a.citations} == {HPM}
    # Without the quotes the twin is among the evidence: the restriction is what keeps it out.
    twin = paper_id("Bootstrap Masked Visual Modeling via Hard Patches Mining")
    assert twin in {src.paper.id for src in pa.engine.evidence(question.replace("'", "")).sources}
    # A filter still applies: HPM's page gives no year, so a year range leaves it out.
    filtered = pa.ask(question, filters={"year_from": 2000})
    assert HPM not in {c.paper_id for c in filtered.citations}


def test_claim_text_drops_the_paragraph_opening_only():
    from assistant.answer.extractive import FIRST_LEAD, NEXT_LEAD, claim_text

    assert claim_text(f"{FIRST_LEAD}**Masked Autoencoders** (He et al., 2021): Masking 75% works.") == "Masking 75% works."
    assert claim_text(f"{NEXT_LEAD}**A: B** (2020): It helps.") == "It helps."
    assert claim_text("**Title**: The claim.") == "The claim."
    assert claim_text("A sentence that quotes **bold** words: kept.") == "A sentence that quotes **bold** words: kept."
