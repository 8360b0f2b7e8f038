"""Cited side-by-side comparison of methods.

Evidence is retrieved for each method on its own (the paper(s) that name it),
then each row (problem, approach, results, limitations, year) is filled with a
sentence of that method's abstract, or by the LLM from those abstracts, and
every cell carries its citation. An empty cell says so."""

from __future__ import annotations

import json
import re
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from assistant.answer import accept, fallback
from assistant.answer.blocks import source_block
from assistant.answer.citations import WEAK_SUPPORT, citation, support
from assistant.answer.evidence import Sentence, SentenceVectors
from assistant.answer.text import content_terms, sentence_spans
from assistant.index import PaperIndex
from assistant.llm import ChatLLM, Ledger, LLMError, count_tokens, room_in_window
from assistant.llm.prompts import render
from assistant.records import Citation, CitationChecks, Paper, Source
from assistant.retrieve import Filters, QueryError, search

NOT_STATED = "not stated in the indexed abstracts"
NO_MENTION = "no indexed abstract mentions"  # + the method: the cells of a method no abstract names
MAX_METHODS = 6  # the one limit on the methods of a table (front ends read it)
PAPERS_PER_METHOD = 2
MAX_CANDIDATES = 5  # other papers naming a method, offered to pick instead (`Comparison.candidates`)

# Each row: (name, cue pattern, where in the abstract it tends to be: "early", "late" or None).
ROWS: list[tuple[str, re.Pattern, str | None]] = [
    (
        "Problem addressed",
        re.compile(
            r"\b(problem|challeng\w*|however|suffer\w*|difficult\w*|bottleneck|costly|expensive|remains?|lacks?|"
            r"fails?|issue|gap|limited|existing|prior|previous|conventional|typically|often|hinders?|struggl\w*)\b",
            re.I,
        ),
        "early",
    ),
    (
        "Approach",
        re.compile(
            r"\b(we (propose|introduce|present|develop|design|describe|formulate)|our (method|approach|framework|"
            r"algorithm|model)|this (paper|work) (proposes|introduces|presents)|based on|by (using|leveraging|"
            r"introducing|exploiting|approximating)|relies on|consists of|uses?|leverag\w*|approximat\w*|"
            r"estimat\w*)\b",
            re.I,
        ),
        None,
    ),
    (
        "Key claims / results",
        re.compile(
            r"\b(outperform\w*|achiev\w*|improv\w*|results?|experiments?|empirical\w*|state-of-the-art|sota|"
            r"speed-?ups?|faster|accuracy|benchmarks?|demonstrat\w*|show(s|n)? that|competitive|gains?|"
            r"reduc\w*|\d+(\.\d+)?\s?(%|x|×))",
            re.I,
        ),
        "late",
    ),
    (
        "Limitations / assumptions",
        re.compile(
            r"\b(assum\w*|limitations?|restrict\w*|requir\w*|under (the|mild|certain) \w+ (assumptions?|conditions?)|"
            r"provided that|trade-?offs?|at the (cost|expense) of|cannot|drawbacks?|only (applies|works|holds)|"
            r"is limited to|are limited to)\b",
            re.I,
        ),
        None,
    ),
]
# Rows take their sentence in this order (a sentence serves one row): the approach
# first, the row a reader wants most.
FILL_ORDER = ["Approach", "Key claims / results", "Problem addressed", "Limitations / assumptions"]
YEAR_ROW = "Year"
ROW_NAMES = [r[0] for r in ROWS] + [YEAR_ROW]


@dataclass
class Cell:
    text: str
    citations: list[Citation] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "citations": [c.to_dict() for c in self.citations]}


@dataclass
class Comparison:
    methods: list[str]
    rows: list[str]
    cells: dict[str, dict[str, Cell]]  # row -> method -> cell
    sources: list[Source]
    papers: dict[str, list[int]]  # method -> its source numbers
    backend: str = "extractive"
    notices: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)
    fallback: str | None = None  # why the model's table is not shown (backend "extractive (LLM fallback)")
    # method -> other papers whose title or abstract names it (best first, at most MAX_CANDIDATES),
    # not those its column uses: what a reader may pick instead (`compare(..., chosen=...)`).
    candidates: dict[str, list[Paper]] = field(default_factory=dict)

    @property
    def citations(self) -> list[Citation]:
        return [c for row in self.rows for m in self.methods for c in self.cells[row][m].citations]

    def markdown(self, sources: bool = True) -> str:
        """The table; with `sources`, followed by the numbered list of papers it cites."""

        def esc(s: str) -> str:
            return " ".join(s.replace("|", "\\|").split())

        def show(cell: Cell) -> str:
            marks = "".join(f"[{n}]" for n in dict.fromkeys(c.n for c in cell.citations))
            return esc(cell.text) + (f" {marks}" if marks else "")

        lines = ["| | " + " | ".join(esc(m) for m in self.methods) + " |", "|---|" + "---|" * len(self.methods)]
        lines += [
            f"| **{row}** | " + " | ".join(show(self.cells[row][m]) for m in self.methods) + " |" for row in self.rows
        ]
        if sources and self.sources:
            lines += ["", "Sources:"]
            lines += [f"[{src.n}] {src.paper.cited_as()}" for src in self.sources]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "methods": self.methods,
            "rows": [
                {"row": row, "cells": {m: self.cells[row][m].to_dict() for m in self.methods}} for row in self.rows
            ],
            "markdown": self.markdown(),
            "sources": [s.to_dict() for s in self.sources],
            "papers": self.papers,
            "backend": self.backend,
            "notices": self.notices,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "usage": self.usage,
            "fallback": self.fallback,
            "candidates": {m: [{"id": p.id, "title": p.title} for p in ps] for m, ps in self.candidates.items()},
        }


def _name_pattern(method: str) -> re.Pattern:
    parts = [re.escape(p) for p in re.split(r"[\s\-]+", method.strip()) if p]
    return re.compile(r"(?<![\w-])" + r"[\s\-]*".join(parts) + r"(?![\w-])", re.IGNORECASE)


@dataclass
class Candidate:
    """A searched paper that names a method: how often its title and its abstract do."""

    paper: Paper
    in_title: int
    mentions: int  # in the abstract
    rank: int  # in the search for the method's name

    @property
    def naming(self) -> int:
        return self.in_title + self.mentions


def method_candidates(index: PaperIndex, method: str, filters: Filters | dict | None = None) -> list[Candidate]:
    """The top-20 search hits for `method` whose title or abstract names it, best
    first: title first, then an abstract naming it at least twice, then rank."""
    pattern = _name_pattern(method)
    found = []
    for rank, hit in enumerate(search(index, method, k=20, filters=filters).hits):
        cand = Candidate(
            hit.paper, len(pattern.findall(hit.paper.title)), len(pattern.findall(hit.paper.abstract)), rank
        )
        if cand.naming:
            found.append(cand)
    found.sort(key=lambda c: (c.in_title > 0, c.mentions >= 2, -c.rank), reverse=True)
    return found


def find_papers(index: PaperIndex, method: str, filters: Filters | dict | None = None) -> list[Paper]:
    """The papers about `method`: a paper id, or papers whose title or abstract
    names it (title first, then how often the abstract does, then rank)."""
    if method in index.paper_by_id:
        return [index.paper_by_id[method]]
    return _own_papers(method_candidates(index, method, filters))


def _own_papers(found: list[Candidate]) -> list[Paper]:
    """The papers a method's column uses among its candidates: the best one, and a second
    only when it, too, is named after the method."""
    return [c.paper for c in found[:1]] + [c.paper for c in found[1:PAPERS_PER_METHOD] if c.in_title]


def _chosen_papers(
    index: PaperIndex, methods: list[str], labels: dict[str, str], chosen: dict[str, list[str]] | None
) -> dict[str, list[Paper]]:
    """method -> the papers the caller chose for its column (`compare`'s `chosen`, keyed by
    the method as typed or by its column label, spacing and case aside). A key that names
    no method, or an id that names no indexed paper, is a QueryError naming it; an empty
    list leaves the choice to `find_papers`."""
    key_of: dict[str, str] = {}
    for name in methods:
        key_of[" ".join(name.split()).lower()] = name
        key_of.setdefault(" ".join(labels[name].split()).lower(), name)
    picked: dict[str, list[Paper]] = {}
    for key, ids in (chosen or {}).items():
        method = key_of.get(" ".join(str(key).split()).lower())
        if method is None:
            raise QueryError(
                f"{str(key)!r} is not one of the methods compared ({', '.join(labels[m] for m in methods)}), "
                f"so no paper can be chosen for it"
            )
        ids = [ids] if isinstance(ids, str) else list(ids or [])
        unknown = [pid for pid in ids if not isinstance(pid, str) or pid not in index.paper_by_id]
        if unknown:
            raise QueryError(
                f"no indexed paper has the id {', '.join(map(repr, unknown))} (chosen for {labels[method]})"
            )
        if ids:
            picked[method] = [index.paper_by_id[pid] for pid in dict.fromkeys(ids)]
    return picked


def _label(method: str, index: PaperIndex) -> str:
    if method in index.paper_by_id:  # a paper id: show a short title
        title = index.paper_by_id[method].title
        return title if len(title) <= 60 else title[:57].rstrip() + "..."
    return method.strip()


def extractive_cells(methods: list[str], papers: dict[str, list[Source]]) -> dict[str, dict[str, Cell]]:
    cells: dict[str, dict[str, Cell]] = {row: {} for row in ROW_NAMES}
    for method in methods:
        srcs = papers[method]
        if not srcs:
            for row in ROW_NAMES:
                cells[row][method] = Cell(f"{NO_MENTION} {method}")
            continue
        pattern = _name_pattern(method)
        candidates: list[tuple[Sentence, float]] = []  # (sentence, place in its abstract: 0 first .. 1 last)
        for src in srcs:
            spans = sentence_spans(src.paper.abstract)
            candidates += [(Sentence(src, i, s, e), i / max(len(spans) - 1, 1)) for i, (s, e) in enumerate(spans)]
        used: set[tuple[str, int]] = set()
        for name, cue, where in sorted(ROWS, key=lambda r: FILL_ORDER.index(r[0])):
            best, best_score = None, 0.0
            for x, rel_pos in candidates:
                if (x.paper.id, x.position) in used:
                    continue
                hits = len(cue.findall(x.text))
                if not hits:
                    continue
                score = min(hits, 3) + (0.5 if pattern.search(x.text) else 0.0) - 0.2 * (x.source.n - srcs[0].n)
                if where == "early":
                    score += 1.0 - rel_pos
                elif where == "late":
                    score += rel_pos
                if score > best_score:
                    best, best_score = x, score
            if best is None:
                cells[name][method] = Cell(NOT_STATED)
            else:
                used.add((best.paper.id, best.position))
                cells[name][method] = Cell(" ".join(best.text.split()), [citation(best)])
        first = srcs[0].paper
        cells[YEAR_ROW][method] = Cell(str(first.year), [_meta_citation(srcs[0])]) if first.year else Cell(NOT_STATED)
    return cells


def _meta_citation(src: Source) -> Citation:
    """A citation of the paper's record itself (the year), not of a sentence: empty quote."""
    p = src.paper
    return Citation(src.n, p.id, p.title, list(p.authors), p.year, "", 0, 0, ", ".join(p.source_files), p.url)


def parse_methods(methods: list[str]) -> list[str]:
    cleaned = [" ".join(str(m).split()) for m in methods if str(m).strip()]
    if len(cleaned) < 2:
        raise QueryError(
            f"a comparison needs at least two methods (got {len(cleaned)}: "
            f"{', '.join(cleaned) or 'none'}); e.g. ADAHESSIAN and M-FAC"
        )
    if len(cleaned) > MAX_METHODS:
        raise QueryError(
            f"a comparison takes at most {MAX_METHODS} methods at once (got {len(cleaned)}: {', '.join(cleaned)})"
        )
    lowered = [m.lower() for m in cleaned]
    dupes = sorted({m for m in cleaned if lowered.count(m.lower()) > 1})
    if dupes:
        raise QueryError(f"the same method is named twice: {', '.join(dupes)}")
    return cleaned


def compare(
    index: PaperIndex,
    vectors: SentenceVectors,
    methods: list[str],
    llm: ChatLLM | None = None,
    filters: Filters | dict | None = None,
    chosen: dict[str, list[str]] | None = None,
) -> Comparison:
    """The table of `methods` (names, or paper ids). Each method's column uses the papers
    `find_papers` gives, or for a method named in `chosen` ({method: [paper id, ...]}) the
    papers with those ids (whatever the filters), still labelled with the method's name;
    `Comparison.candidates` lists the other papers naming each method, to choose from."""
    t0 = time.perf_counter()
    methods = parse_methods(methods)
    labels = {method: _label(method, index) for method in methods}
    picked = _chosen_papers(index, methods, labels, chosen)
    sources: list[Source] = []
    papers: dict[str, list[Source]] = {}
    candidates: dict[str, list[Paper]] = {}
    seen: dict[str, Source] = {}
    for method in methods:
        label = labels[method]
        papers[label] = []
        # A paper id stands for itself: no other paper is "about" it.
        found = [] if method in index.paper_by_id else method_candidates(index, method, filters)
        if method in picked:
            used = picked[method]
        else:
            used = [index.paper_by_id[method]] if method in index.paper_by_id else _own_papers(found)
        ids = {p.id for p in used}
        candidates[label] = [c.paper for c in found if c.paper.id not in ids][:MAX_CANDIDATES]
        for paper in used:
            if paper.id not in seen:
                seen[paper.id] = Source(len(sources) + 1, paper, 0.0)
                sources.append(seen[paper.id])
            papers[label].append(seen[paper.id])
    shown = [labels[m] for m in methods]
    unknown = [m for m in shown if not papers[m]]
    if len(unknown) == len(shown):
        raise QueryError(f"{NO_MENTION} {' or '.join(shown)}; check the spelling or search the papers for them")
    notices = [f"No indexed abstract mentions {m}; its column is empty." for m in unknown]
    timings = {"retrieve": time.perf_counter() - t0}
    t = time.perf_counter()
    cells = extractive_cells(shown, papers)
    backend, usage, failed = "extractive", {}, None
    if llm is not None:
        ledger = Ledger(index.settings, llm.model)
        try:
            cells, more = _llm_cells(llm, vectors, shown, papers, sources, cells, ledger)
            notices += more
            backend = f"llm:{llm.model}"
        except (LLMError, _Rejected) as exc:
            failed = fallback.reason_of(exc)
        usage = ledger.to_dict()
    timings["table"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    result = Comparison(
        shown,
        list(ROW_NAMES),
        cells,
        sources,
        {m: [s.n for s in papers[m]] for m in shown},
        backend,
        notices,
        timings,
        usage,
        candidates=candidates,
    )
    return fallback.mark(result, failed, llm, what="table") if failed else result


class _Rejected(Exception):
    """The model's table as a whole is not shown; the message says why."""


def _llm_cells(
    llm: ChatLLM,
    vectors: SentenceVectors,
    methods: list[str],
    papers: dict[str, list[Source]],
    sources: list[Source],
    fallback: dict[str, dict[str, Cell]],
    ledger: Ledger,
):
    """The model's table cells and notices, each cell checked as an answer sentence is
    (`accept`): no template token, echoed prompt, markup or control character, cites only
    its method's papers, and supported by them; a cell that fails keeps the extractive
    sentence. Raises _Rejected when the table as a whole cannot be used, LLMError when
    the call fails."""
    settings = vectors.index.settings
    rows = [r for r in ROW_NAMES if r != YEAR_ROW]
    values = {"methods": json.dumps(methods), "rows": json.dumps(rows), "not_stated": NOT_STATED}
    window, _ = llm.context_window()
    budget = room_in_window(window, render("compare", settings, sources="", **values), settings.llm_max_tokens)
    blocks, used = [], 0
    for method in methods:  # the papers of each method in turn, as many as fit
        for src in papers[method]:
            block = source_block(src, method=method)
            if used + count_tokens(block) > budget:
                continue
            blocks.append(block)
            used += count_tokens(block)
    if not blocks:
        raise _Rejected(
            f"not one paper fits the model's context window ({window} tokens) beside the instructions "
            f"and the reply (PAPERS_LLM_MAX_TOKENS={settings.llm_max_tokens})"
        )
    messages = render("compare", settings, sources="\n\n".join(blocks), **values)
    try:
        completion = llm.complete(messages)
    except LLMError as exc:
        ledger.failure("compare", exc, messages)
        raise
    ledger.record("compare", completion)
    data = _json_object(completion.text)
    if data is None or not isinstance(data.get("cells"), dict):
        raise _Rejected(
            "it was cut off at the token limit (PAPERS_LLM_MAX_TOKENS)"
            if completion.finish_reason == "length"
            else "it was not the JSON object asked for"
        )
    cells: dict[str, dict[str, Cell]] = {row: dict(fallback[row]) for row in ROW_NAMES}
    replaced = 0
    for row in rows:
        for method in methods:
            allowed = {s.n for s in papers[method]}
            got = (data["cells"].get(row) or {}).get(method) if isinstance(data["cells"].get(row), dict) else None
            if not isinstance(got, dict) or not isinstance(got.get("text"), str):
                replaced += 1
                continue
            text = " ".join(got["text"].split())
            marks = [n for n in got.get("citations") or [] if isinstance(n, int) and not isinstance(n, bool)]
            if text.lower().rstrip(".") == NOT_STATED or not text:
                cells[row][method] = Cell(NOT_STATED) if allowed else fallback[row][method]
                continue
            raw = got["text"]
            if (
                not marks
                or not set(marks) <= allowed
                or accept.template_token(raw)
                or accept.echo(raw, messages)
                or accept.MARKUP.search(raw)
                or accept.CONTROL.search(raw)
            ):
                replaced += 1  # uncited, cites another method's paper, or prompt text: keep the extractive cell
                continue
            checks = CitationChecks()
            cited = support(vectors, text + " " + "".join(f"[{n}]" for n in marks), sources, [marks], checks)
            if not cited or max(c.support for c in cited) < WEAK_SUPPORT:
                replaced += 1  # not supported by the papers it cites
                continue
            cells[row][method] = Cell(text, cited)
    if replaced == len(rows) * len(methods):
        raise _Rejected("none of its cells cited a paper of its method and was supported by it")
    notices: list[str] = []
    if replaced:
        notices.append(
            f"{replaced} cell(s) of the model's table were missing, cited no paper of their method, "
            f"or were not supported by the papers they cite; they hold the extractive sentence instead."
        )
    return cells, notices


def _json_object(text: str) -> dict | None:
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", (text or "").strip())
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(text[start : end + 1])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


_SPLIT = re.compile(r"\s*,\s*(?:and\s+|or\s+)?|\s+(?:and|or|vs\.?|versus|with|to|against|from)\s+", re.IGNORECASE)
_COMPARE_FORMS = [
    re.compile(r"^(?:please\s+)?compare\s+(?:the\s+)?(?:methods?\s+)?(?P<rest>.+)$", re.I),
    re.compile(r"^(?:what\s+(?:is|are)\s+)?(?:the\s+)?differences?\s+between\s+(?P<rest>.+)$", re.I),
    re.compile(
        r"^how\s+(?:does|do|did)\s+(?P<a>.+?)\s+(?:differ\s+from|compare\s+(?:to|with|against))\s+"
        r"(?P<b>.+)$",
        re.I,
    ),
    # "A vs B", but not "Which paper studies A vs B?" (a question about papers, answered as one)
    re.compile(
        r"^(?!(?:which|what|who|whom|where|when|why|how|is|are|do|does|did|can|could|should|find|list|show)\b)"
        r"(?P<rest>[^?]{2,80}?\s+(?:vs\.?|versus)\s+[^?]{2,80})$",
        re.I,
    ),
]


def methods_in_question(question: str) -> list[str] | None:
    """['ADAHESSIAN', 'M-FAC'] for 'Compare ADAHESSIAN and M-FAC', 'How does X differ
    from Y?', 'X vs Y', 'difference between X and Y'; None when it is not a comparison."""
    q = " ".join(question.split()).rstrip(" ?.!")
    q = re.split(r"\s+(?:in terms of|with respect to|regarding)\s+", q, maxsplit=1)[0]
    for form in _COMPARE_FORMS:
        m = form.match(q)
        if not m:
            continue
        parts = [m.group("a"), m.group("b")] if "a" in form.groupindex else _SPLIT.split(m.group("rest"))
        names = [p.strip(" \"'`") for p in parts if p and p.strip(" \"'`")]
        if 2 <= len(names) <= MAX_METHODS and all(len(n.split()) <= 6 for n in names):
            return names
    return None


# --- does a free question want the table? ----------------------------------------------------
# "Compare A and B" typed as a question gets the table only when the library clearly holds a
# paper for each of A and B: a column quoting a paper that merely mentions the name (or none)
# is worse than the ordinary answer ("How does low-rank adaptation compare with prompt
# rewriting?" tabled a paper that names LoRA once, beside an empty column, while
# "Neurosymbolic LoRA: Why and When to Tune Weights vs. Rewrite Prompts" answers it).
# `pa.compare([...])` is asked for a table and always builds it.
OWN_SHARE = 0.5  # the resolved paper names the method more than all other candidates together
COVERING_PAPERS = 3  # at most this many covering papers answer the question
# "... for training N:M sparse networks", "... as ways of ...": what the methods are compared for.
_PURPOSE = re.compile(r"\s+(?:for|as|in|on|when|under)\s+", re.IGNORECASE)
# "Low-Rank Adaptation (LoRA)": up to six words, then a parenthesised acronym.
_DEFINITION = re.compile(r"((?:[A-Za-z][\w-]*\s+){0,5}[A-Za-z][\w-]*)\s*\(\s*([A-Za-z][\w-]{1,15})\s*\)")


def resolve_method(index: PaperIndex, method: str, filters: Filters | dict | None = None) -> Paper | None:
    """The paper a question means by `method` (the first of `find_papers`), or None
    when the library has no clear one. Clear: that paper is named after the method (its
    title, up to a colon, is the name: "M-FAC: Efficient ..."), or its title and abstract
    name it more often than all the other candidates' together ("MaskFeat" three times in
    one abstract, nowhere else). A name many papers use ("pruning", "CNNs") or that
    papers mention in passing ("low-rank adaptation", once in each of two abstracts) has
    no clear paper."""
    if method in index.paper_by_id:
        return index.paper_by_id[method]
    found = method_candidates(index, method, filters)
    if not found:
        return None
    top = found[0]
    if _name_pattern(method).fullmatch(top.paper.title.split(":", 1)[0].strip()):
        return top.paper
    return top.paper if top.naming > OWN_SHARE * sum(c.naming for c in found) else None


def definitions(text: str) -> tuple[tuple[str, str], ...]:
    """The (long form, acronym) pairs a text defines: "Low-Rank Adaptation (LoRA)" gives
    ("Low-Rank Adaptation", "LoRA"); the acronym's capitals (two or more) are the
    initials of the words (and hyphenated parts) just before it."""
    found = []
    for m in _DEFINITION.finditer(text):
        caps = "".join(ch for ch in m.group(2) if ch.isupper()).lower()
        if len(caps) < 2:
            continue
        words = m.group(1).split()
        for n in range(1, len(words) + 1):
            long = " ".join(words[-n:])
            if "".join(w[0] for w in re.split(r"[\s-]+", long) if w).lower() == caps:
                if len(long) > len(m.group(2)):  # not "M-FAC (Matrix-Free)"
                    found.append((long, m.group(2)))
                break
    return tuple(found)


_DEFINED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # index -> (its paper list, its definitions)


def library_definitions(index: PaperIndex) -> tuple[tuple[str, str], ...]:
    """Every (long form, acronym) pair the indexed abstracts define, read once per paper
    list (an ingest replaces the list), not once per comparison question."""
    cached = _DEFINED.get(index)
    if cached is None or cached[0] is not index.papers:
        papers = index.papers
        cached = (papers, tuple(dict.fromkeys(pair for p in papers for pair in definitions(p.abstract))))
        _DEFINED[index] = cached
    return cached[1]


def aliases(index: PaperIndex, method: str) -> list[str]:
    """The other names the indexed abstracts define for `method`: its acronym
    ("low-rank adaptation" -> "LoRA") or, for an acronym, its long form."""
    pattern = _name_pattern(method)
    found: dict[str, str] = {}
    for long, acronym in library_definitions(index):
        if pattern.fullmatch(long):
            found.setdefault(acronym.lower(), acronym)
        elif pattern.fullmatch(acronym):
            found.setdefault(long.lower(), long)
    return list(found.values())


def _roots(text: str) -> frozenset[str]:
    """Content words folded a step further than the index's plural folding, so that
    "prompt rewriting" and "Rewrite Prompts" share theirs."""
    return frozenset(re.sub(r"(?:ing|ed|e)$", "", t) if len(t) > 4 else t for t in content_terms(text))


def covering_papers(
    index: PaperIndex, question: str, methods: list[str], filters: Filters | dict | None = None
) -> list[Paper]:
    """The question's top-20 papers whose title names every method - by its name or an
    alias (`aliases`), or by all the words of one - in search order: a paper about them
    all, which answers the question better than a table of each method's own paper."""
    sides = [[method, *aliases(index, method)] for method in methods]

    def names(title: str, side: list[str]) -> bool:
        words = _roots(title)
        return any(_name_pattern(name).search(title) or (_roots(name) and _roots(name) <= words) for name in side)

    hits = search(index, question, k=20, filters=filters).hits
    return [h.paper for h in hits if all(names(h.paper.title, side) for side in sides)]


def _known_name(index: PaperIndex, method: str, filters: Filters | dict | None) -> tuple[str, Paper | None]:
    """The method's name as the library knows it and its clear paper (`resolve_method`):
    the name as asked, else the words before a purpose phrase ("CERL for low-light image
    enhancement" -> "CERL"), which the question parser leaves on the last name."""
    paper = resolve_method(index, method, filters)
    short = _PURPOSE.split(method, maxsplit=1)[0]
    if paper is None and short != method:
        found = resolve_method(index, short, filters)
        if found is not None:
            return short, found
    return method, paper


@dataclass
class TableIntent:
    """What a free question comparing methods gets (`table_intent`)."""

    table: list[str] | None  # the names to tabulate, or None: answer it as a question
    papers: list[str]  # ids of the papers the ordinary answer should come from, or []
    unresolved: list[str]  # methods with no clear paper of their own (said in a notice)


def table_intent(
    index: PaperIndex, question: str, methods: list[str], filters: Filters | dict | None = None
) -> TableIntent:
    """Whether a free question comparing `methods` (`methods_in_question`) gets the
    table. No table when a paper's title covers every method (`covering_papers`; the
    answer comes from it), when a method has no clear paper (`resolve_method`), or when
    the methods resolve to one paper (that paper answers it)."""
    names, resolved = zip(*(_known_name(index, m, filters) for m in methods))
    unresolved = [n for n, p in zip(names, resolved) if p is None]
    covering = covering_papers(index, question, list(names), filters)
    if covering:
        return TableIntent(None, [p.id for p in covering[:COVERING_PAPERS]], [])
    if unresolved:
        return TableIntent(None, [], unresolved)
    ids = list(dict.fromkeys(p.id for p in resolved))
    if len(ids) < len(resolved):
        return TableIntent(None, ids if len(ids) == 1 else [], [])
    return TableIntent(list(names), [], [])
