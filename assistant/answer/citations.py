"""Citation markers: normalise, check against the sources, and tie each one to
the abstract sentence that supports it."""

from __future__ import annotations

import re

from assistant.answer.evidence import DENSE_WEIGHT, LEXICAL_WEIGHT, Sentence, SentenceVectors
from assistant.answer.text import (
    MARKER,
    MARKER_RE,
    content_terms,
    marker_numbers,
    markers,
    overlap,
    sentence_spans,
    strip_markers,
)
from assistant.records import Citation, CitationChecks, Source

WEAK_SUPPORT = 0.3  # below this, a quote barely supports the sentence citing it

_TRAILING = re.compile(r"([.!?])((?:\s*" + MARKER + r")+)")


def normalize_markers(text: str) -> str:
    """'...results. [1][2]' -> '...results [1][2].' so each marker stays in the
    sentence it belongs to; '[1, 2]' -> '[1][2]'."""
    text = _TRAILING.sub(lambda m: " " + m.group(2).strip() + m.group(1), text)
    text = MARKER_RE.sub(lambda m: "".join(f"[{n}]" for n in marker_numbers(m.group(1))), text)
    return re.sub(r"[ \t]+\[", " [", text)


def citation(sentence: Sentence, support: float = 1.0, answer_sentence: int | None = None) -> Citation:
    p = sentence.paper
    return Citation(
        sentence.source.n,
        p.id,
        p.title,
        list(p.authors),
        p.year,
        sentence.text,
        sentence.start,
        sentence.end,
        ", ".join(p.source_files),
        p.url,
        support,
        answer_sentence,
    )


def answer_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of an answer, paragraph by paragraph (bullets and table rows are sentences)."""
    spans: list[tuple[int, int]] = []
    offset = 0
    for block in re.split(r"(\n+)", text):
        if block.strip() and not block.startswith("\n"):
            spans += [(offset + s, offset + e) for s, e in sentence_spans(block)]
        offset += len(block)
    return spans


def check(text: str, sources: list[Source]) -> tuple[str, list[list[int]], CitationChecks]:
    """Remove markers that name no source; list uncited sentences.
    Returns (clean text, markers per answer sentence, checks)."""
    valid = {s.n for s in sources}
    checks = CitationChecks()
    text = normalize_markers(text)

    def keep(m: re.Match) -> str:
        n = int(m.group(1))  # normalised: one number per marker
        if n in valid:
            return m.group(0)
        checks.removed_markers.append(m.group(0))
        return ""

    text = MARKER_RE.sub(keep, text)
    text = re.sub(r"[ \t]+([.!?,;:])", r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip()
    per_sentence: list[list[int]] = []
    for s, e in answer_sentences(text):
        found = markers(text[s:e])
        per_sentence.append(list(dict.fromkeys(found)))
        body = strip_markers(text[s:e]).strip(" .:-*")
        if not found and len(body) > 3:
            checks.uncited_sentences.append(text[s:e].strip())
    checks.ok = not checks.removed_markers and not checks.uncited_sentences
    return text, per_sentence, checks


def support(
    vectors: SentenceVectors, text: str, sources: list[Source], per_sentence: list[list[int]], checks: CitationChecks
) -> list[Citation]:
    """For each marker [n] of each answer sentence, the sentence of source n's
    abstract that supports it best (meaning + shared words)."""
    spans = answer_sentences(text)
    by_n = {s.n: s for s in sources}
    claims = [strip_markers(text[s:e]).strip() for s, e in spans]
    needed = [i for i, marks in enumerate(per_sentence) if marks]
    claim_vecs = dict(zip(needed, vectors.embed_texts([claims[i] for i in needed])))
    citations: list[Citation] = []
    for i in needed:
        terms = content_terms(claims[i])
        for n in per_sentence[i]:
            src = by_n[n]
            candidates = [Sentence(src, j, s, e) for j, (s, e) in enumerate(sentence_spans(src.paper.abstract))]
            if not candidates:
                continue
            dense = vectors.get([(src.paper, c.start, c.end) for c in candidates]) @ claim_vecs[i]
            for c, d in zip(candidates, dense):
                c.dense, c.lexical = float(max(d, 0.0)), overlap(terms, c.text)
                c.score = DENSE_WEIGHT * c.dense + LEXICAL_WEIGHT * c.lexical
            best = max(candidates, key=lambda c: c.score)
            citations.append(citation(best, support=best.score, answer_sentence=i))
            if best.score < WEAK_SUPPORT and n not in checks.weak_citations:
                checks.weak_citations.append(n)
    return citations
