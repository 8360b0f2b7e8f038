"""Conversation memory of follow-ups without an LLM (assistant/answer/chat.py): references
look back through the whole conversation, skip abstentions' closest papers unless named,
and the follow-up's sentence is chosen on what it asks. Rules on toy papers, then the
bundled corpus (real index, real MiniLM)."""

from __future__ import annotations

import pytest

from assistant.answer.chat import Turn, papers_named_in, referents, resolve
from assistant.answer.cues import about_other_work
from assistant.answer.extractive import paper_label
from assistant.answer.text import sentences
from assistant.records import Answer, Paper, paper_id

A, B, C, X, Y, Z = (Paper(title=t, abstract="x") for t in ("A", "B", "C", "X", "Y", "Z"))
ANSWERED, ABSTAINED = Turn([A, B, C], True), Turn([X, Y, Z], False)


@pytest.mark.parametrize("turns, message, picked", [
    # An abstention's closest papers are skipped by ordinals and pronouns ...
    ([ANSWERED, ABSTAINED], "What does the second one predict?", ["B"]),
    ([ANSWERED, ABSTAINED], "What does it use?", ["A"]),
    # ... unless named: "closest".
    ([ANSWERED, ABSTAINED], "What does the closest one propose?", ["X"]),
    ([ANSWERED, ABSTAINED], "What does the second closest paper propose?", ["Y"]),
    ([ANSWERED, ABSTAINED], "and the second of those closest papers?", ["Y"]),
    ([ANSWERED, ABSTAINED], "What do those closest papers study?", ["X", "Y", "Z"]),
    ([ANSWERED, ABSTAINED], "How does it compare to the closest one?", ["A", "X"]),
    ([ANSWERED, ABSTAINED], "Which is the closest paper to diffusion models?", []),
    # When nothing answered, the closest papers are all the conversation showed.
    ([ABSTAINED], "What does the second one predict?", ["Y"]),
    # A one-paper answer is "it", not a list to count in: ordinals count in an earlier list.
    ([ANSWERED, Turn([B], True)], "What does it use?", ["B"]),
    ([ANSWERED, Turn([B], True)], "And the first one?", ["A"]),
    ([ANSWERED, Turn([B], True)], "How does it compare to the first one?", ["B", "A"]),
    # "it" and "the first one" apart: the first one of the earlier list, not "it" again.
    ([Turn([A, B], True), Turn([C, A], True)], "How does it compare to the first one?", ["C", "A"]),
    ([Turn([A, B], True), Turn([C, A], True)], "How does it compare to the second one?", ["C", "A"]),
    ([Turn([A, B], True), ABSTAINED, Turn([C], True)], "How do the first one and the second one differ?",
     ["A", "B"]),
])
def test_references_look_back_through_the_conversation(turns, message, picked):
    resolved = resolve(message, turns)
    assert [p.title for p in resolved.papers] == picked
    assert resolved.compare == (len(picked) >= 2 and ("compare" in message or "differ" in message))


@pytest.mark.parametrize("message, asked", [
    ("What does the second one predict?", "What does predict?"),
    ("What dataset does it use?", "What dataset does use?"),
    ("How many GPUs does this method use?", "How many GPUs does use?"),
    ("What are the results?", "What are results?"),  # "the results" is what is asked
    ("What does the second closest paper predict?", "What does predict?"),
    ("and the second one?", "B"),  # nothing else asked: the paper itself
])
def test_follow_ups_are_scored_on_what_they_ask(message, asked):
    assert resolve(message, [ANSWERED, ABSTAINED]).asked == asked


def test_background_sentences_are_other_work():
    assert about_other_work("Typical approaches urge models to predict specific contents of masked tokens.")
    assert about_other_work("In typical approaches, models usually focus on predicting specific contents.")
    assert about_other_work("Most existing methods rely on labels.")
    assert not about_other_work("Unlike existing methods, we predict patch-wise losses.")
    assert not about_other_work("Standard benchmarks show large gains.")
    assert not about_other_work("To empower the model as a teacher, we propose Hard Patches Mining (HPM).")


# --- the bundled corpus ------------------------------------------------------------------------

HPM_Q = "What is hard patches mining in masked image modeling?"
UNANSWERABLE = "Who won the 2026 football world cup?"
HPM = paper_id("Hard Patches Mining for Masked Image Modeling")
BOOTSTRAP = paper_id("Bootstrap Masked Visual Modeling via Hard Patches Mining")


@pytest.fixture(scope="module")
def pa(full_index):
    return full_index


@pytest.fixture(scope="module")
def hpm(pa) -> Answer:
    answer = pa.ask(HPM_Q)
    assert not answer.abstained and answer.citations[0].paper_id == HPM
    return answer


@pytest.fixture(scope="module")
def abstained(pa) -> Answer:
    answer = pa.ask(UNANSWERABLE)
    assert answer.abstained and not answer.citations and len(answer.sources) >= 2
    return answer


def said(pa, *ids: str) -> str:
    """An assistant message naming these papers as answers print them (title in bold,
    a quoted sentence, its marker), for text-only histories that do not depend on how
    many papers today's answers happen to quote."""
    papers = [pa.index.paper_by_id[pid] for pid in ids]
    return "\n\n".join(f"{paper_label(p)}: {sentences(p.abstract)[0]} [{n}]" for n, p in enumerate(papers, 1))


def turn(question: str, text: str) -> list[dict]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": text}]


def assert_quotes_verbatim(answer: Answer, pa) -> None:
    assert answer.citations
    for c in answer.citations:
        assert pa.index.paper_by_id[c.paper_id].abstract[c.start:c.end] == c.quote


def test_an_ordinal_skips_the_abstention_in_between(pa, hpm, abstained):
    second = referents(hpm)[1]
    a = pa.chat("What does the second one predict?", [hpm, abstained])
    assert a.standalone_question and second.title in a.standalone_question
    assert {s.paper.id for s in a.sources} == {second.id}
    # The same with text only: the abstention's closest papers are not the list counted in.
    history = turn(HPM_Q, said(pa, HPM, BOOTSTRAP)) + turn(UNANSWERABLE, abstained.text)
    a = pa.chat("What does the second one predict?", history)
    assert {s.paper.id for s in a.sources} == {BOOTSTRAP}


def test_compare_it_to_the_first_one_two_answers_back(pa, hpm):
    first, second = referents(hpm)[:2]
    follow = pa.chat("What does the second one predict?", [hpm])
    assert {s.paper.id for s in follow.sources} == {second.id}
    a = pa.chat("How does it compare to the first one?", [hpm, follow])
    assert a.table is not None and [s.paper.id for s in a.table.sources[:2]] == [second.id, first.id]
    history = turn(HPM_Q, said(pa, HPM, BOOTSTRAP)) + turn("What does the second one predict?", said(pa, BOOTSTRAP))
    a = pa.chat("How does it compare to the first one?", history)
    assert a.table is not None and [s.paper.id for s in a.table.sources[:2]] == [BOOTSTRAP, HPM]


def test_the_closest_papers_when_named(pa, hpm, abstained):
    listed = papers_named_in(abstained.text, pa.index)
    assert len(listed) >= 2
    a = pa.chat("What does the second closest paper study?", [hpm, abstained])
    assert a.standalone_question and listed[1].title in a.standalone_question
    assert {s.paper.id for s in a.sources} == {listed[1].id}


def test_a_follow_up_quotes_the_sentence_that_answers_it(pa):
    """'What does the second one predict?' quotes what that paper predicts (a loss
    predictor), not its background sentence on what typical approaches predict."""
    a = pa.chat("What does the second one predict?", turn(HPM_Q, said(pa, HPM, BOOTSTRAP)))
    assert not a.abstained and {c.paper_id for c in a.citations} == {BOOTSTRAP}
    assert_quotes_verbatim(a, pa)
    assert not any(c.quote.startswith("Typical approaches") for c in a.citations)
    assert any("loss predict" in c.quote for c in a.citations)


def test_a_quantity_follow_up_still_abstains_on_the_paper_it_names(pa, hpm, abstained):
    """'it' is the hard-patches paper (not the abstention's closest one), whose abstract
    gives no GPU count: the follow-up says so instead of quoting a near miss."""
    a = pa.chat("How many GPUs does it use?", [hpm, abstained])
    assert a.abstained and [s.paper.id for s in a.sources] == [HPM]
    assert "do not state this (GPUs)" in a.text
