"""What a sentence's wording and place say about it, beside how well it matches the question.

An abstract opens with background (what the field does, what is not yet known), then
says what the paper does and what it found. A question - "Does X improve Y?", "What
limits X?", "What did they find?" - is answered by the finding, the limit or the cause,
not by the opening sentence that happens to repeat the question's words ("MPNNs are
instances of GNNs that ..." for "What limits message passing in GNNs?").
Measured on the SciFact train rationales (the sentences annotators marked as supporting
or refuting a claim), within the abstracts that hold one: a sentence with a finding cue
is a rationale 38% of the time, one without 17%, a background sentence 5% (others 23%);
a sentence in the last three fifths of an abstract 25-34%, in the first fifth 9%.
`assistant.answer.evidence.weigh` turns these cues into small adjustments: background
lowers a sentence (and a paper whose best match is background); a finding, a relation
the question asks about and a later place choose among one paper's sentences; and a
title that names the question's subject puts that paper first.
"""

from __future__ import annotations

import re

from assistant.answer.text import content_terms

# Weights of the cues (added to a sentence's 0-1 match score), tuned on SciFact train
# (`evals.experiments.rationale_sentences`) and checked on the golden dev split.
FINDING_BONUS = 0.05
BACKGROUND_PENALTY = 0.05
POSITION_BONUS = 0.10  # for the last sentence of an abstract; the first gets none, linear between
RELATION_BONUS = 0.05

# A finding or a conclusion: "We show that ...", "Our results suggest ...", "These data indicate ...",
# "In conclusion, ...", the headings of a structured abstract ("RESULTS ...", "CONCLUSIONS ...").
_FINDING = re.compile(
    r"^\W*(?-i:RESULTS?|CONCLUSIONS?|FINDINGS|INTERPRETATION|(?:Results?|Conclusions?|Findings):)"
    r"|\b(?:in conclusion|in summary|taken together|together,? these|overall,)"
    r"|\b(?:we|results?|findings|data|analys[ie]s|experiments?|study|studies|observations?|evidence|this)\s+"
    r"(?:[\w-]+\s+){0,4}?(?:show|shows|showed|shown|find|finds|found|demonstrate[sd]?|reveal(?:s|ed)?|observe[sd]?|"
    r"prove[sd]?|establish(?:es|ed)?|confirm(?:s|ed)?|suggest(?:s|ed)?|indicate[sd]?|conclude[sd]?|"
    r"identif(?:y|ies|ied)|uncover(?:s|ed)?|report(?:s|ed)?)\b",
    re.IGNORECASE,
)
# Background: what the field does or does not know, what was set out to do (not what was found),
# the opening headings of a structured abstract. (Sentences about other methods: `about_other_work`.)
_BACKGROUND = re.compile(
    r"^\W*(?-i:BACKGROUND|OBJECTIVES?|PURPOSE|AIMS?|METHODS?|CONTEXT|INTRODUCTION|DESIGN|SETTING|"
    r"(?:Background|Objectives?|Purpose|Aims?|Methods?|Context|Introduction):)"
    r"|\b(?:typically|in recent years|recent years|recently,|(?:has|have) (?:been|emerged|attracted|gained|become|"
    r"achieved)|remains? (?:unclear|unknown|poorly|elusive|largely)|little is known"
    r"|(?:is|are) (?:widely|commonly|often))\b"
    r"|\bwe (?:aimed|sought|investigated|examined|evaluated|asked|hypothesi[sz]ed)\b"
    r"|^\W*(?:to (?:investigate|determine|assess|evaluate|examine|test|explore|study)|the (?:aim|purpose|objective))\b",
    re.IGNORECASE,
)

# Words of one relation, so that "What limits X?" prefers the sentence naming a limit
# ("... is insensitive to ...", "suffers from ...") and "Does X reduce Y?" the one saying it lowers Y.
_RELATIONS = {
    name: re.compile(r"\b(?:" + words + r")\b", re.IGNORECASE)
    for name, words in {
        "limit": r"limit\w*|bottleneck\w*|restrict\w*|hinder\w*|hamper\w*|imped\w*|prevent\w*|fail\w*|cannot|unable|"
        r"insensitive|suffer\w*|issues?|problems?|drawbacks?|weakness\w*|struggl\w*|degrad\w*|challeng\w*",
        "cause": r"caus\w*|leads? to|led to|leading to|results? in|resulted in|due to|because|driven by|attribut\w*|"
        r"stems? from|origin\w*|responsible|induc\w*|trigger\w*|explain\w*",
        "improve": r"improv\w*|boost\w*|enhanc\w*|outperform\w*|gains?|better|superior|surpass\w*|benefit\w*|help\w*",
        "decrease": r"reduc\w*|decreas\w*|lower\w*|inhibit\w*|suppress\w*|diminish\w*|attenuat\w*|impair\w*|"
        r"down-?regulat\w*|less|fewer",
        "increase": r"increas\w*|elevat\w*|rais\w*|higher|promot\w*|up-?regulat\w*|more|greater|activat\w*",
    }.items()
}


# A sentence about other work: "Typical approaches urge models to predict ...", "In existing methods,
# ...", "Most prior works ..." - without the paper's own voice (we, our, this paper).
_OTHER_WORK = re.compile(
    r"^\W*(?:(?:however|but|yet|recently|currently|nowadays|unfortunately|to date|so far)\W+)?(?:in\s+)?"
    r"(?:(?:the|most|many|some|several|these)\s+)?(?:typical|existing|previous|prior|conventional|traditional|"
    r"current|recent|popular|mainstream|classical|earlier)\s+(?:[\w-]+\s+){0,3}?(?:approach|method|work|model|"
    r"technique|stud|algorithm|system|solution|framework|research|literature|effort|paradigm)",
    re.IGNORECASE,
)
_OWN_WORK = re.compile(r"\b(?:we|our|us|this (?:paper|work|study))\b", re.IGNORECASE)


def about_other_work(sentence: str) -> bool:
    """The sentence describes other work (an abstract's background), not the paper's own."""
    return bool(_OTHER_WORK.search(sentence)) and not _OWN_WORK.search(sentence)


def is_finding(sentence: str) -> bool:
    """The sentence states a finding or a conclusion."""
    return bool(_FINDING.search(sentence))


def is_background(sentence: str) -> bool:
    """The sentence gives the field's background or the study's aim, not what it found."""
    return bool(_BACKGROUND.search(sentence))


def relations(text: str) -> frozenset[str]:
    """The relations `text` words (of: limit, cause, improve, decrease, increase)."""
    return frozenset(name for name, words in _RELATIONS.items() if words.search(text))


def role(sentence: str, position: int, count: int, asked: frozenset[str]) -> float:
    """What a sentence's cues add to its score, to choose among one abstract's
    sentences: a finding, a relation the question asks about (`asked`, from
    `relations`), its place among the `count` sentences of its abstract (later is more
    often the answer). (Background, `is_background`, is weighed apart: it also lowers
    a paper whose best match is its background.)"""
    later = position / (count - 1) if count > 1 else 0.0
    return (
        FINDING_BONUS * is_finding(sentence)
        + POSITION_BONUS * later
        + RELATION_BONUS * bool(asked & relations(sentence))
    )


def _title_terms(title: str) -> frozenset[str]:
    # "Neural Collapse in Deep Linear Networks: From Balanced to Imbalanced Data" is named by its
    # part before the colon; "ADAHESSIAN: An Adaptive ..." by the whole title (one word names too little).
    head = content_terms(title.split(":")[0])
    return head if len(head) >= 2 else content_terms(title)


def names_title(terms: frozenset[str], title: str) -> bool:
    """The question (its content `terms`) is about what `title` names: the title's words
    (before a colon) are nearly all in the question and make most of it
    ("What is neural collapse in deep linear networks?" and "Neural Collapse in Deep
    Linear Networks: From Balanced to Imbalanced Data")."""
    words = _title_terms(title)
    shared = len(words & terms)
    return len(words) >= 2 and shared >= 0.8 * len(words) and shared >= 0.6 * len(terms)
