"""Quote-first generation, as Ai2 Scholar QA does it: the model first copies, per
paper, the sentences of the abstract that bear on the question (prompt `quotes`,
one `[n] "quote"` a line); each quote is verified against paper n's abstract, and
the answer is then written from the verified quotes only, so the model never
writes from text it only believes it read.

Verification, in order (`verify`):
1. exact: the quote is a substring of the abstract;
2. normalised: it is one after case, Unicode forms, quotes, dashes, whitespace and
   punctuation are made uniform;
3. word overlap: at least `OVERLAP` of the quote's words (and at least
   `MIN_WORDS` of them) appear in one abstract sentence, in a quote of at least
   `MIN_WORDS` words.
A verified quote is replaced by the abstract's own text (the sentences it falls
in), so what the answer is written from, and what citations show, is the source's
wording, never the model's."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from assistant.answer.text import MARKER, marker_numbers, sentence_spans
from assistant.index.lexical import tokenize
from assistant.records import Source

OVERLAP = 0.8
MIN_WORDS = 4

_LINE = re.compile(
    r"^\s*(?:[-*•]\s*)?(?:" + MARKER + r"|(?:source|paper)\s*#?\s*(\d+)\s*[:.)-])\s*[:.)-]?\s*(.+?)\s*$", re.IGNORECASE
)


@dataclass
class Quote:
    n: int  # the source's number
    said: str  # what the model wrote
    text: str = ""  # the abstract's own text it was matched to ("" when not verified)
    how: str = ""  # "exact", "normalised", "overlap", or "" when not verified
    start: int = -1
    end: int = -1

    @property
    def verified(self) -> bool:
        return bool(self.how)


def parse(reply: str) -> list[Quote]:
    """The `[n] "quote"` lines of a reply (also "Source n: ...", "- [n]: ..."); a line
    with several quoted strings gives one Quote each."""
    out = []
    for line in (reply or "").splitlines():
        m = _LINE.match(line)
        if not m or (m.group(1) and len(marker_numbers(m.group(1))) > 1):  # "[1, 2] ...": no one source's quote
            continue
        n = marker_numbers(m.group(1))[0] if m.group(1) else int(m.group(2))
        body = m.group(3)
        parts = re.findall(r"[\"“]([^\"”]{3,})[\"”]", body) or [body.strip(" \"“”'")]
        out += [Quote(n, p.strip()) for p in parts if p.strip()]
    return out


def _norm_char(ch: str) -> str:
    if ch in "‘’‚‛′`´":
        return "'"
    if ch in "“”„‟″":
        return '"'
    if ch in "‐‑‒–—―−":
        return "-"
    return ch


def normalise(text: str) -> tuple[str, list[int]]:
    """Lower-cased NFKC text with uniform quotes/dashes, punctuation dropped and
    whitespace collapsed; and for each character of it, its offset in `text`."""
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        for c in unicodedata.normalize("NFKC", _norm_char(ch)).lower():
            if c.isalnum():
                out.append(c)
                where.append(i)
            elif c.isspace() or unicodedata.category(c).startswith("P") or c in "-'\"":
                if out and out[-1] != " ":
                    out.append(" ")
                    where.append(i)
            else:
                out.append(c)
                where.append(i)
    while out and out[-1] == " ":
        out.pop()
        where.pop()
    return "".join(out), where


def _covering(abstract: str, start: int, end: int) -> tuple[int, int]:
    """The abstract's sentences that the span [start, end) falls in."""
    spans = sentence_spans(abstract)
    inside = [(s, e) for s, e in spans if s < end and e > start]
    return (inside[0][0], inside[-1][1]) if inside else (start, end)


def verify(quote: Quote, abstract: str) -> Quote:
    """Match `quote` against `abstract` (exact, normalised, word overlap); fills
    text/how/start/end when it matches."""
    said = quote.said.strip().strip(".… ").strip()
    if len(said.split()) < 2:
        return quote
    pos = abstract.find(said)
    if pos >= 0:
        s, e = _covering(abstract, pos, pos + len(said))
        quote.text, quote.how, quote.start, quote.end = abstract[s:e], "exact", s, e
        return quote
    norm_abs, where = normalise(abstract)
    norm_said, _ = normalise(said)
    if len(norm_said) >= 10:
        pos = norm_abs.find(norm_said)
        if pos >= 0:
            s, e = _covering(abstract, where[pos], where[pos + len(norm_said) - 1] + 1)
            quote.text, quote.how, quote.start, quote.end = abstract[s:e], "normalised", s, e
            return quote
    words = tokenize(said)
    if len(words) >= MIN_WORDS:
        best, best_share = None, 0.0
        for s, e in sentence_spans(abstract):
            have = set(tokenize(abstract[s:e]))
            share = sum(w in have for w in words) / len(words)
            if share > best_share:
                best, best_share = (s, e), share
        if best is not None and best_share >= OVERLAP:
            quote.text, quote.how, quote.start, quote.end = abstract[best[0] : best[1]], "overlap", best[0], best[1]
    return quote


def verify_all(quotes: list[Quote], sources: list[Source]) -> list[Quote]:
    """Each quote checked against its source's abstract; a quote naming no source stays unverified."""
    by_n = {s.n: s for s in sources}
    for q in quotes:
        if q.n in by_n:
            verify(q, by_n[q.n].paper.abstract)
    return quotes


def grouped(quotes: list[Quote], sources: list[Source]) -> list[tuple[Source, list[str]]]:
    """The verified quotes per source, in the sources' order, without repeats (each
    the abstract's own text), and only sources with at least one."""
    out = []
    for src in sources:
        seen: dict[tuple[int, int], str] = {}
        for q in quotes:
            if q.n == src.n and q.verified:
                seen.setdefault((q.start, q.end), q.text)
        if seen:
            out.append((src, [seen[k] for k in sorted(seen)]))
    return out
