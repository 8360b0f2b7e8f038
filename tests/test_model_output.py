"""The acceptance rule for model output (assistant/answer/accept.py), the model's
evidence scores (scoring.py) and quote verification (quotes.py), on hand-made
cases: no index, no server. The replies below are of the kinds a real small model
(Gemma 3 270M under llama.cpp) was seen to write: echoed prompts, invented source
blocks, template tokens, "8/10", prose around JSON, quotes not in the abstract."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.answer import accept, quotes, scoring
from assistant.answer.accept import ABSTAIN_PHRASE
from assistant.llm.prompts import render
from assistant.records import Paper, Source

HPM_ABSTRACT = ("Masked image modeling (MIM) has attracted much research attention. "
                "We propose Hard Patches Mining (HPM), a new framework for MIM pre-training. "
                "HPM learns to predict patch-wise losses and decides where to mask from them. "
                "Experiments show HPM improves MAE on ImageNet.")
COOKING_ABSTRACT = ("We study the chemistry of bread baking. Crust colour depends on the Maillard reaction. "
                    "Our ovens were calibrated twice.")


def paper(title: str, abstract: str) -> Paper:
    return Paper(title=title, abstract=abstract)


HPM = Source(1, paper("Hard Patches Mining for Masked Image Modeling", HPM_ABSTRACT), 1.0)
BREAD = Source(2, paper("The Chemistry of Bread", COOKING_ABSTRACT), 0.5)


class WordVectors:
    """Stands in for the engine's SentenceVectors (the MiniLM model is not needed to
    test the rule): bag-of-words unit vectors, so support is word overlap."""

    def __init__(self):
        self.vocab: dict[str, int] = {}

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(512)
        for w in text.lower().replace(".", " ").replace(",", " ").split():
            v[self.vocab.setdefault(w, len(self.vocab) % 512)] += 1
        n = np.linalg.norm(v)
        return v / n if n else v

    def embed_texts(self, texts):
        return [self._vec(t) for t in texts]

    def get(self, items):
        return np.vstack([self._vec(p.abstract[s:e]) for p, s, e in items])


PROMPT = render("answer", question="What is HPM?", sources="<source n=\"1\">...</source>",
                abstain_phrase=ABSTAIN_PHRASE)


# --- abstention sentinel -------------------------------------------------------------------------

@pytest.mark.parametrize("reply", [ABSTAIN_PHRASE, f"**{ABSTAIN_PHRASE}**", f"{ABSTAIN_PHRASE}.",
                                   f"{ABSTAIN_PHRASE}\nThe sources are about bread.", "insufficient_evidence",
                                   f"{ABSTAIN_PHRASE}<end_of_turn>"])
def test_the_sentinel_as_the_whole_reply_or_first_line_abstains(reply):
    assert accept.abstains(reply)


@pytest.mark.parametrize("reply", [
    f"If the sources do not answer the question, reply with exactly: {ABSTAIN_PHRASE}\nHPM predicts losses [1].",
    f"HPM predicts losses [1]. {ABSTAIN_PHRASE}", "", "INSUFFICIENT"])
def test_the_sentinel_inside_echoed_text_does_not_abstain(reply):
    assert not accept.abstains(reply)


# --- the acceptance rule -------------------------------------------------------------------------

def check(reply: str, cut: str | None = None):
    return accept.answer(reply, [HPM, BREAD], WordVectors(), PROMPT, cut=cut)


def test_a_fully_cited_supported_answer_is_accepted():
    v = check("HPM is a new framework for MIM pre-training [1]. It learns to predict patch-wise losses [1].")
    assert v.ok and v.reason is None and len(v.citations) == 2
    assert v.citations[1].quote == "HPM learns to predict patch-wise losses and decides where to mask from them."


def test_a_trailing_end_of_turn_token_is_dropped_but_other_template_tokens_reject():
    assert check("HPM is a new framework for MIM pre-training [1].<end_of_turn>").ok
    v = check("HPM is a new framework for MIM pre-training [1]. [/INST] Sure!")
    assert not v.ok and "[/INST]" in v.reason
    for token in ("<start_of_turn>model", "<<SYS>>", "<|im_start|>assistant", "### system"):
        assert not check(f"{token}\nHPM is a new framework for MIM pre-training [1].").ok, token


def test_echoed_prompt_and_invented_source_blocks_reject():
    v = check('HPM is a framework [1].\n<source n="7">\nTitle: Something\n</source>')
    assert not v.ok and "repeats its prompt" in v.reason
    v = check("You answer questions about research papers using ONLY the numbered sources given to you [1].")
    assert not v.ok and "repeats its prompt" in v.reason


@pytest.mark.parametrize("reply", [
    "HPM is a new framework for MIM pre-training [1]. ![x](http://evil.example/p.png)",
    "HPM is a new framework for [MIM pre-training](http://evil.example) [1].",
    "HPM is a <b>new</b> framework for MIM pre-training [1].", "See <https://evil.example> [1]."])
def test_links_images_and_html_reject(reply):
    v = check(reply)
    assert not v.ok and "links, images or HTML" in v.reason and "evil" not in v.reason


def test_control_characters_reject():
    v = check("HPM is a new framework \x1b[31mfor MIM pre-training [1].")
    assert not v.ok and "control characters" in v.reason


def test_uncited_sentences_and_invented_markers_reject():
    v = check("HPM is a new framework for MIM pre-training [1]. It is the best method ever.")
    assert not v.ok and "1 of the model's 2 sentences cite no source (the first: sentence 2)" in v.reason
    assert "best method" not in v.reason  # a reason never repeats the rejected text
    v = check("HPM is a new framework for MIM pre-training [1][7].")
    assert not v.ok and "[7]" in v.reason and "do not exist" in v.reason


def test_a_citation_its_source_does_not_support_rejects_but_a_weak_extra_one_is_tolerated():
    v = check("Crust colour depends on the Maillard reaction [1].")  # true of [2], not of [1]
    assert not v.ok and "not supported" in v.reason and "Maillard" not in v.reason
    v = check("Crust colour depends on the Maillard reaction [2][1].")  # [2] supports it; [1] is extra
    assert v.ok and any("[1]" in n and "Weakly" in n for n in v.notices)


def test_a_cut_reply_is_shown_up_to_its_last_complete_sentence_with_a_notice():
    v = check("HPM is a new framework for MIM pre-training [1]. It learns to pred", cut="the token limit")
    assert v.ok and v.text == "HPM is a new framework for MIM pre-training [1]."
    assert any("cut off (the token limit)" in n for n in v.notices)
    v = check("HPM is a new fram", cut="the stream ended without a finish reason")
    assert not v.ok and "cut off" in v.reason


def test_the_model_abstaining_is_a_verdict_not_a_failure():
    v = check(ABSTAIN_PHRASE)
    assert v.abstained and not v.ok


def test_condensed_follow_ups_are_checked():
    history = "User: What is hard patches mining?\nAssistant: HPM predicts patch-wise losses [1]."
    prompt = render("condense", history=history, question="What does it predict?")
    ok, why = accept.condensed("What does hard patches mining predict?", "What does it predict?", history, prompt)
    assert ok == "What does hard patches mining predict?" and why is None
    for bad in ("Follow-up message: What does it predict?\nStandalone question:",
                "User: What is hard patches mining?", "[/INST] What does HPM predict?", "",
                "word " * 120, "Which ovens were calibrated?",
                "You rewrite a follow-up message of a conversation about research papers into one standalone question."):
        ok, why = accept.condensed(bad, "What does it predict?", history, prompt)
        assert ok is None and why, bad


# --- evidence scores -----------------------------------------------------------------------------

@pytest.mark.parametrize("reply, score", [
    ('{"score": 8, "summary": "HPM predicts losses."}', 8.0),
    ('Sure! Here is the JSON:\n```json\n{"score": 7, "summary": "x"}\n```', 7.0),
    ("8/10 - the abstract answers it", 8.0),
    ("Score: 3. Summary: on topic", 3.0),
    ("9", 9.0),
    ('{"score": "6/10", "summary": "x"}', 6.0),
])
def test_scores_are_parsed_defensively(reply, score):
    prompt = render("evidence", question="What is HPM?", title="HPM", abstract="...")
    assert scoring.parse_score(reply, prompt)[0] == score


@pytest.mark.parametrize("reply", [
    'Question: What is HPM?\nPaper: Hard Patches Mining\nAbstract: improves MAE by 2023 points', '{"summary": "x"}',
    "The abstract is relevant.", "", '{"score": 14}', "2019 we show that", "95% of the time",
    # what Gemma 270M wrote under llama.cpp: the prompt, repeated (its JSON shape and its scale hold a 0)
    ' <<SYS>>\nYou rate how useful one research paper\'s abstract is for answering a question.\n',
    'Reply with one JSON object and nothing else:\n{"score": <0-10>, "summary": "<one sentence>"}',
    "Score 0 when the abstract is unrelated, 5 when it is on the topic"])
def test_a_reply_without_an_explicit_score_is_unscored_not_zero(reply):
    prompt = render("evidence", question="What is HPM?", title="HPM", abstract="...")
    assert scoring.parse_score(reply, prompt)[0] is None


def test_decide_reranks_drops_and_abstains():
    s = [scoring.PaperScore(HPM, 2.0), scoring.PaperScore(BREAD, 9.0)]
    d = scoring.decide(s, 3, "m")
    assert [src.n for src in d.kept] == [2] and not d.abstain and any("[1] (2)" in n for n in d.notices)
    d = scoring.decide([scoring.PaperScore(HPM, 1.0), scoring.PaperScore(BREAD, 0.0)], 3, "m")
    assert d.abstain and d.kept == [] and "best score 1/10" in d.why and "needs 3" in d.why
    # unscored papers are never an abstention: they keep their retrieval rank
    d = scoring.decide([scoring.PaperScore(HPM, None), scoring.PaperScore(BREAD, 0.0)], 3, "m")
    assert not d.abstain and [src.n for src in d.kept] == [1] and any("1 of 2" in n for n in d.notices)


def test_the_scorer_scores_a_relevant_and_an_irrelevant_paper_in_parallel_and_caches(monkeypatch):
    from assistant.llm import Completion, Ledger, Usage
    from assistant.settings import Settings

    asked = []

    class Model:  # stands in for ChatLLM: these cases need a scripted reply per paper, not a server
        model = "m"

        def context_window(self):
            return 8192, "setting"

        def complete(self, messages, max_tokens=None):
            text = messages[-1]["content"]
            asked.append(text)
            reply = '{"score": 9, "summary": "HPM predicts patch-wise losses."}' if "Hard Patches" in text else \
                "Score: 0/10, unrelated"
            return Completion(reply, Usage(10, 5), 1, 0.01, "m")

    scorer = scoring.Scorer(Model(), Settings())
    ledger = Ledger(Settings(), "m")
    got = scorer.score("What is HPM?", [BREAD, HPM], ledger)
    assert [(g.source.n, g.score) for g in got] == [(2, 0.0), (1, 9.0)]
    assert got[1].summary == "HPM predicts patch-wise losses."
    assert len(asked) == 2 and ledger.to_dict()["n_calls"] == 2
    scorer.score("What is HPM?", [BREAD, HPM], ledger)
    assert len(asked) == 2  # cached per (question, paper, model)


# --- quotes ------------------------------------------------------------------------------------

def test_quotes_are_parsed_from_the_line_format():
    got = quotes.parse('[1] "HPM learns to predict patch-wise losses"\n- [2]: "Crust colour depends on it."\n'
                       'Source 1: "We propose Hard Patches Mining (HPM)"\nnoise line')
    assert [(q.n, q.said) for q in got] == [(1, "HPM learns to predict patch-wise losses"),
                                           (2, "Crust colour depends on it."),
                                           (1, "We propose Hard Patches Mining (HPM)")]


def test_quote_verification_exact_normalised_overlap_and_not_found():
    exact = quotes.verify(quotes.Quote(1, "learns to predict patch-wise losses"), HPM_ABSTRACT)
    assert exact.how == "exact" and exact.text == "HPM learns to predict patch-wise losses and decides where to mask from them."
    norm = quotes.verify(quotes.Quote(1, "hpm LEARNS to predict patch–wise   losses"), HPM_ABSTRACT)
    assert norm.how == "normalised" and norm.text == exact.text
    over = quotes.verify(quotes.Quote(1, "HPM learns to predict the patch-wise losses and decides where to mask"),
                         HPM_ABSTRACT)
    assert over.how == "overlap" and over.text == exact.text
    assert not quotes.verify(quotes.Quote(1, "HPM is the best method for speech recognition"), HPM_ABSTRACT).verified
    assert not quotes.verify(quotes.Quote(1, "HPM"), HPM_ABSTRACT).verified  # too short to tell


def test_verified_quotes_are_grouped_per_source_in_the_abstracts_own_words():
    found = quotes.verify_all([quotes.Quote(1, "learns to predict patch-wise losses"),
                               quotes.Quote(1, "HPM LEARNS to predict patch-wise losses"),
                               quotes.Quote(2, "Our ovens were calibrated twice"),
                               quotes.Quote(9, "Crust colour depends on the Maillard reaction"),
                               quotes.Quote(2, "The bread was delicious and golden")], [HPM, BREAD])
    groups = quotes.grouped(found, [HPM, BREAD])
    assert [(src.n, texts) for src, texts in groups] == [
        (1, ["HPM learns to predict patch-wise losses and decides where to mask from them."]),
        (2, ["Our ovens were calibrated twice."])]
    assert sum(q.verified for q in found) == 3  # [9] names no source; the last is not in the abstract
