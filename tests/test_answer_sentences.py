"""Which sentence an extractive answer quotes: the finding, limit or cause the question
asks about rather than background or a generic definition; the paper whose title
names the question's subject first; "What is the <quantity> of X?" read as a quantity
question. The whole bundled corpus (real index, real MiniLM) for the users' examples,
and the scoring helpers (assistant/answer/cues.py, text.weighted_overlaps,
evidence.weigh, extractive.select) on their own."""

from __future__ import annotations

import pytest

from assistant.answer.asked import asked_quantities, states
from assistant.answer.cues import (
    about_other_work,
    is_background,
    is_finding,
    names_title,
    relations,
    role,
)
from assistant.answer.evidence import Evidence, Sentence, weigh
from assistant.answer.extractive import select
from assistant.answer.text import content_terms, weighted_overlaps
from assistant.records import Paper, Source, paper_id

OVER_SQUASHING = paper_id("On Over-Squashing in Message Passing Neural Networks: The Impact of Width, Depth, "
                          "and Topology")
NEURAL_COLLAPSE = paper_id("Neural Collapse in Deep Linear Networks: From Balanced to Imbalanced Data")


@pytest.fixture(scope="module")
def pa(full_index):
    return full_index


def background(sentence: str) -> bool:
    return is_background(sentence) or about_other_work(sentence)


# --- the users' examples, over the bundled corpus -------------------------------------------------

def test_what_limits_is_answered_with_the_limit_not_definitions_or_background(pa):
    a = pa.ask("What limits message passing in graph neural networks?")
    assert not a.abstained
    assert a.citations[0].paper_id == OVER_SQUASHING
    assert any("over-squashing" in c.quote for c in a.citations if c.paper_id == OVER_SQUASHING)
    # ... and not another paper's "GNNs have emerged as powerful architectures ..."
    assert not [c.quote for c in a.citations if background(c.quote)]


@pytest.mark.parametrize("question", [
    "What is neural collapse in deep linear networks?",
    "Does neural collapse occur in deep linear networks?",
])
def test_the_paper_whose_title_names_the_subject_is_cited_first(pa, question):
    a = pa.ask(question)
    assert not a.abstained
    assert a.citations[0].paper_id == NEURAL_COLLAPSE
    assert a.text.startswith("**Neural Collapse in Deep Linear Networks: From Balanced to Imbalanced Data**")


def test_what_is_the_ratio_of_x_is_a_quantity_question_answered_with_a_value(pa):
    question = "What is the masking ratio of MAE?"
    [ratio] = asked_quantities(question)
    assert ratio.phrase == "masking ratio"  # not "... of MAE": MAE is what it is asked about
    a = pa.ask(question)
    if a.abstained:  # allowed: then it says that the closest abstracts give no value
        assert "do not state" in a.text
    else:  # every quote gives a value for the masking ratio (not a sentence that only names it)
        assert a.citations and all(states(ratio, c.quote) for c in a.citations)


def test_a_what_was_found_question_leads_with_the_finding(pa):
    a = pa.ask("What did they find about the weights of networks fine-tuned on diverse rewards?")
    assert not a.abstained
    first = a.citations[0].quote  # not "To this end, we propose rewarded soup, ..." before it
    assert "we show that the weights remain linearly connected" in first and is_finding(first)


def test_a_yes_no_question_quotes_no_background(pa):
    a = pa.ask("Do larger language models need more data?")
    assert not a.abstained and a.citations
    assert not [c.quote for c in a.citations if background(c.quote)]


# --- the cues ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("sentence, finding", [
    ("We show that width can mitigate over-squashing.", True),
    ("Our experiments on ImageNet subsets demonstrate that learned compression outperforms JPEG.", True),
    ("These findings suggest that N348I can thwart the inhibitory effects of nevirapine.", True),
    ("RESULTS Of the 32,441 appendix samples 16 were positive.", True),
    ("In conclusion, the treatment is safe.", True),
    ("We propose Hard Patches Mining, a new framework.", False),
    ("Graph neural networks have emerged as powerful architectures.", False),
])
def test_finding_cues(sentence, finding):
    assert is_finding(sentence) is finding


@pytest.mark.parametrize("sentence, bg", [
    ("Graph Neural Networks (GNNs) have emerged as powerful architectures for learning on graphs.", True),
    ("In recent years, diffusion models have become popular.", True),
    ("OBJECTIVE To examine whether statins reduce hip fracture risk.", True),
    ("To determine whether ultrasound imaging reduces failed punctures, we ran a trial.", True),
    ("Recent research has highlighted the importance of dataset size.", True),  # about other work
    ("To address this problem, we introduce Q* search.", False),
    ("We show that depth cannot help mitigate over-squashing.", False),
    ("Results show that objective measures improve.", False),  # "Results" only as a heading counts
])
def test_background_cues(sentence, bg):
    assert background(sentence) is bg


def test_relations_link_the_question_word_to_the_sentence_wording():
    assert relations(" ".join(content_terms("What limits message passing in graph neural networks?"))) == {"limit"}
    assert "limit" in relations("a node feature is insensitive to information contained at distant nodes")
    assert "cause" in relations("this inductive bias leads to a phenomenon known as over-squashing")
    assert "improve" in relations(" ".join(content_terms("Does data augmentation improve robustness?")))
    assert not relations("Message passing neural networks are instances of graph neural networks")


def test_role_prefers_a_later_finding_that_words_the_asked_relation():
    plain = "The method trains networks on graphs."
    assert role(plain, 5, 6, frozenset()) > role(plain, 0, 6, frozenset())  # later in the abstract
    assert role(plain, 0, 1, frozenset()) == 0.0  # a one-sentence abstract: no place to prefer
    assert role("We show that the method trains networks.", 2, 6, frozenset()) > role(plain, 2, 6, frozenset())
    limit = "Depth cannot help: it suffers from vanishing gradients."
    assert role(limit, 2, 6, frozenset({"limit"})) > role(limit, 2, 6, frozenset())


@pytest.mark.parametrize("question, title, named", [
    ("What is neural collapse in deep linear networks?",
     "Neural Collapse in Deep Linear Networks: From Balanced to Imbalanced Data", True),
    ("What is hard patches mining in masked image modeling?", "Hard Patches Mining for Masked Image Modeling", True),
    ("What is neural collapse in deep linear networks?", "Perturbation Analysis of Neural Collapse", False),
    ("What limits message passing in graph neural networks?",
     "On Over-Squashing in Message Passing Neural Networks: The Impact of Width, Depth, and Topology", False),
    # one word before the colon names too little: the whole title is compared
    ("What learning rate does ADAHESSIAN use?", "ADAHESSIAN: An Adaptive Second Order Optimizer for Machine Learning",
     False),
])
def test_a_title_names_the_question_subject_only_when_nearly_exact(question, title, named):
    assert names_title(content_terms(question), title) is named


def test_weighted_overlap_counts_rare_question_words_more():
    terms = content_terms("What limits graph networks?")  # limit, graph, network
    texts = ["graph networks are popular", "graph networks on molecules", "graph networks limits",
             "a limit of graph networks", "nothing in common"]
    shares = weighted_overlaps(terms, texts)
    assert shares[2] == pytest.approx(1.0) and shares[4] == 0.0
    # "limit" is in fewer of the texts than "graph" and "network": it weighs more than either
    assert shares[0] < 2 / 3 < shares[2]
    assert weighted_overlaps(frozenset(), texts) == [0.0] * len(texts)


# --- scoring and selection on made-up papers ------------------------------------------------------

def _sentences(*abstracts: str) -> list[Sentence]:
    from assistant.answer.text import sentence_spans

    out = []
    for n, abstract in enumerate(abstracts, start=1):
        src = Source(n, Paper(f"Paper {n} about something", abstract), 1.0 / n)
        out += [Sentence(src, i, s, e) for i, (s, e) in enumerate(sentence_spans(abstract))]
    return out


def test_the_cues_choose_among_a_papers_sentences_but_keep_its_best_score():
    sentences = _sentences("Sparse coding is a model of vision. We show that sparse coding explains receptive fields.",
                           "Sparse coding is a model of vision used widely. It explains little.")
    for x, dense in zip(sentences, [0.75, 0.6, 0.79, 0.2]):
        x.dense = dense
    weigh(sentences, content_terms("What is sparse coding?"))
    first, finding, other, _ = sentences
    assert finding.score > first.score  # the finding, later in its abstract, is quoted first ...
    assert max(first.score, finding.score) == pytest.approx(max(first.match, finding.match))  # ... the paper's best stays
    assert other.score == pytest.approx(other.match)


def test_background_lowers_a_sentence_and_its_paper():
    sentences = _sentences("In recent years, sparse coding of vision has attracted attention.",
                           "Sparse coding of vision attracts attention.")
    for x in sentences:
        x.dense = 0.7  # the same match; the first paper was ranked first by retrieval
    weigh(sentences, content_terms("sparse coding vision"))
    bg, plain = sentences
    assert bg.lexical == plain.lexical and bg.score < plain.score


def test_a_lookup_prefers_the_paper_retrieval_ranked_first_and_its_describing_sentence():
    sentences = _sentences("We propose Foo, a sparse coder. We show that it works.", "We propose Bar, a sparse coder.")
    a, b, c = sentences
    a.score, a.match = 0.60, 0.62  # the contribution (best match) ...
    b.score, b.match = 0.63, 0.55  # ... and the finding the cues prefer
    c.score = c.match = 0.64  # paper 2 matches a little better
    evidence = Evidence("Which paper proposes a sparse coder?", frozenset(), [a.source, c.source],
                        sorted(sentences, key=lambda x: -x.score), 0.9)
    assert [(x.source.n, x.position) for x in select(evidence, 4, lookup=False, close=0.95)][0] == (2, 0)
    assert [(x.source.n, x.position) for x in select(evidence, 4, lookup=True, close=0.95)] == [(1, 0)]
