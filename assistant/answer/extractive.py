"""The grounded extractive backend: answers with the abstract sentences that
best answer the question, grouped by paper, each followed by its citation.
No model writes anything: every word after a paper's name is quoted."""

from __future__ import annotations

import re

from assistant.answer.asked import is_lookup
from assistant.answer.citations import citation
from assistant.answer.evidence import Evidence, Sentence
from assistant.answer.text import MARKER_RE
from assistant.records import Citation, Paper

# A lookup's paragraphs open with these before the paper's label.
FIRST_LEAD, NEXT_LEAD = "The best match is ", "Also relevant: "
# A paragraph's opening: an optional lead, the bold title, its "(Wang et al., 2023)", a colon.
_OPENING = re.compile(rf"^(?:{re.escape(FIRST_LEAD)}|{re.escape(NEXT_LEAD)})?\*\*.+?\*\*(?: \([^)]*\))?: ")


def claim_text(sentence: str) -> str:
    """An extractive answer sentence without its paragraph opening (lead and paper label):
    the words the answer claims, as a judge or an overlap metric should read them."""
    return _OPENING.sub("", sentence)


def paper_label(paper: Paper) -> str:
    """'**Title** (Wang et al., 2023)'."""
    return f"**{paper.title}**{paper.cited_as()[len(paper.title) :]}"


def _quote(sentence: Sentence) -> str:
    text = " ".join(sentence.text.split())
    text = MARKER_RE.sub(r"(\1)", text)  # a reference "[12]" in an abstract is not our marker
    return text[:-1] if text.endswith(".") else text


SAME_PAPER = 0.8  # more sentences of an already quoted paper join at this fraction of the best score
LOOKUP_RANK_PRIOR = 0.1  # a lookup's sentences count this much less per retrieval rank of their paper


def select(evidence: Evidence, max_sentences: int, lookup: bool, close: float) -> list[Sentence]:
    """The sentences to quote: the best one; more sentences of the same paper(s)
    scoring at least SAME_PAPER x the best (not for lookups, which quote one per
    paper); another paper only when its sentence scores at least `close` x the
    best - or when it is the paper retrieval ranked first and scores SAME_PAPER x
    the best. At most two papers (three for lookups, which name candidates).
    When the question asks for a quantity and the best sentence gives it, only
    sentences that give it are quoted. A lookup ranks sentences by their match
    before the cues (`Sentence.match`) and a further LOOKUP_RANK_PRIOR per rank of
    their paper."""
    if not evidence.sentences:
        return []
    # A lookup asks for one paper described in other words: the retrieval rank, which matched the whole
    # abstract, counts for more than one sentence's match (golden dev: fewer wrong "Also relevant" papers),
    # and the sentence that describes the paper is its best match, not the finding the cues prefer.
    value = (lambda x: x.match * (1.0 - LOOKUP_RANK_PRIOR * (x.source.n - 1))) if lookup else (lambda x: x.score)
    ranked = sorted(evidence.sentences, key=lambda x: (not x.gives, -value(x))) if lookup else evidence.sentences
    best = ranked[0]
    papers = [best.source.n]
    chosen = [best]
    for x in ranked[1:]:
        if len(chosen) >= max_sentences or value(x) < SAME_PAPER * value(best) or (best.gives and not x.gives):
            break
        if x.source.n in papers:
            if not lookup:
                chosen.append(x)
            continue
        if len(papers) >= (3 if lookup else 2) or (value(x) < close * value(best) and x.source.n != 1):
            continue
        papers.append(x.source.n)
        chosen.append(x)
    return chosen


def compose(evidence: Evidence, max_sentences: int, close: float = 0.95) -> tuple[str, list[Citation]]:
    """Answer text (Markdown, markers [n]) and its citations. `close`: a further
    sentence joins when it scores at least this fraction of the best one."""
    lookup = is_lookup(evidence.question)
    chosen = select(evidence, max_sentences, lookup, close)
    groups: dict[int, list[Sentence]] = {}
    for x in sorted(chosen, key=lambda x: x.source.n):  # papers in retrieval order; sentences in abstract order
        groups.setdefault(x.source.n, []).append(x)
    paragraphs, citations = [], []
    for i, (n, sentences) in enumerate(groups.items()):
        sentences.sort(key=lambda x: x.position)
        quoted = " ".join(f"{_quote(x)} [{n}]." for x in sentences)
        lead = paper_label(sentences[0].paper)
        if lookup:
            lead = (FIRST_LEAD if i == 0 else NEXT_LEAD) + lead
        paragraphs.append(f"{lead}: {quoted}")
        citations += [citation(x, answer_sentence=None) for x in sentences]
    return "\n\n".join(paragraphs), citations
