"""Evidence scored by the model, as PaperQA2 does it: before an answer is written,
each candidate paper is read by the model alone with the question and given a
relevance score 0-10 and a one-sentence summary (prompt `evidence`, JSON asked for).

Parsing is defensive, since models wrap JSON in prose or fences, write "8/10" or
"Score: 8", or repeat the prompt: only a number in an explicit form counts (the
"score" field of a JSON object, "score: 8", "8/10", or a reply that starts with a
number); a number elsewhere (e.g. from an echoed abstract) does not, and a reply
without one is *unscored*, never 0.

Requests run `llm_parallel` at a time; results are cached per (question, paper,
model), so a re-asked question (or a re-run evaluation) costs no second call.

`decide` turns the scores into the kept papers (re-ranked by score, those under
`llm_evidence_min` dropped) and the abstention signal: every candidate was scored
and none reached the minimum."""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from assistant.answer import accept
from assistant.llm import ChatLLM, Ledger, LLMError, count_tokens, room_in_window
from assistant.llm.prompts import render
from assistant.records import Source

CACHE_SIZE = 4096
ABSTRACT_TOKENS = 1500  # an abstract longer than this is cut for the score prompt


@dataclass
class PaperScore:
    source: Source
    score: float | None  # 0-10; None: the model gave no readable score (or the call failed)
    summary: str = ""
    error: str | None = None  # the call failed: why


@dataclass
class Decision:
    kept: list[Source]
    abstain: bool = False
    notices: list[str] = field(default_factory=list)
    why: str = ""  # the abstention's reason, true of its numbers


_JSON = re.compile(r"\{[^{}]*\}", re.DOTALL)
_FIELD = re.compile(r"\bscore\b\W{0,4}(\d+(?:\.\d+)?)", re.IGNORECASE)
_OUT_OF = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*/\s*10\b")
# A reply that starts with a number of at most two digits (not "2019 we show", "95%", "3-5").
_LEADING = re.compile(r"^\W{0,3}(\d{1,2}(?:\.\d+)?)(?!\d|\.\d|\s*[-%])")
_SHAPE = re.compile(r"<\s*0\s*-\s*10\s*>|score\s+0\s+when", re.IGNORECASE)  # the prompt's own JSON shape/scale
_SUMMARY = re.compile(r"\bsummary\b\W{0,4}(.+)", re.IGNORECASE)


def parse_score(text: str, prompt: list[dict] | None = None) -> tuple[float | None, str]:
    """(score 0-10 or None, summary) from a model's reply (see the module docstring).
    A reply that repeats `prompt` (its JSON shape, its "Score 0 when ..." line) or holds
    a chat-template token is unscored: the numbers in it are the prompt's."""
    text = accept.strip_trailing_end(text or "").strip()
    if accept.template_token(text) or accept.echo(text, prompt) or _SHAPE.search(text):
        return None, ""
    for block in _JSON.finditer(text):
        try:
            obj = json.loads(block.group(0))
        except ValueError:
            continue
        if isinstance(obj, dict):
            value = obj.get("score", obj.get("relevance"))
            try:
                score = float(value) if value is not None and not isinstance(value, bool) else None
            except (TypeError, ValueError):
                score = _number(str(value))
            if score is not None:
                summary = obj.get("summary", "")
                return _clamp(score), " ".join(str(summary).split()) if isinstance(summary, str) else ""
    score = None
    for pattern in (_FIELD, _OUT_OF, _LEADING):
        m = pattern.search(text)
        if m:
            score = float(m.group(1))
            break
    summary = ""
    m = _SUMMARY.search(text)
    if m:
        summary = m.group(1).strip().strip('",}').strip()
    return (_clamp(score) if score is not None else None), " ".join(summary.split())


def _number(text: str) -> float | None:
    """A score a JSON field holds as text ("6", "6/10"): its first number."""
    m = re.search(r"\d+(?:\.\d+)?", text)
    return float(m.group(0)) if m else None


def _clamp(score: float) -> float | None:
    """A score on the 0-10 scale, or None for a number off it (not a score)."""
    return score if 0.0 <= score <= 10.0 else None


def _abstract(src: Source, limit: int) -> str:
    """The abstract, cut to `limit` tokens (with " ..." when cut)."""
    text = src.paper.abstract
    if count_tokens(text) <= limit:
        return text
    words = text.split()
    while words and count_tokens(" ".join(words)) > limit:
        words = words[: int(len(words) * 0.9)]
    return " ".join(words) + " ..."


class Scorer:
    """Scores candidate papers with the model, `llm_parallel` requests at a time,
    caching each (question, paper, model)."""

    def __init__(self, llm: ChatLLM, settings):
        self.llm, self.settings = llm, settings
        self._cache: OrderedDict[tuple[str, str, str], PaperScore] = OrderedDict()
        self._lock = threading.Lock()

    def score(self, question: str, sources: list[Source], ledger: Ledger) -> list[PaperScore]:
        results: dict[int, PaperScore] = {}
        todo = []
        for src in sources:
            key = (question, src.paper.id, self.llm.model)
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
            if hit is not None:
                results[src.n] = PaperScore(src, hit.score, hit.summary)
            else:
                todo.append(src)
        if todo:
            with ThreadPoolExecutor(max_workers=min(self.settings.llm_parallel, len(todo))) as pool:
                for src, scored in zip(todo, pool.map(lambda s: self._one(question, s, ledger), todo)):
                    results[src.n] = scored
        return [results[src.n] for src in sources]

    def _one(self, question: str, src: Source, ledger: Ledger) -> PaperScore:
        p = src.paper
        # The abstract gets what the context window leaves, at most ABSTRACT_TOKENS.
        room = room_in_window(
            self.llm.context_window()[0],
            render("evidence", self.settings, question=question, title=p.title, abstract=""),
            self.settings.llm_evidence_max_tokens,
        )
        messages = render(
            "evidence",
            self.settings,
            question=question,
            title=p.title,
            abstract=_abstract(src, max(min(ABSTRACT_TOKENS, room), 32)),
        )
        try:
            completion = self.llm.complete(messages, max_tokens=self.settings.llm_evidence_max_tokens)
        except LLMError as exc:
            ledger.failure("evidence", exc, messages)
            return PaperScore(src, None, error=str(exc))
        ledger.record("evidence", completion)
        score, summary = parse_score(completion.text, messages)
        result = PaperScore(src, score, summary[:300])
        if score is not None:  # an unreadable reply is not cached: the next ask tries again
            key = (question, p.id, self.llm.model)
            with self._lock:
                self._cache[key] = result
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        return result


def _score(s: PaperScore) -> float:
    """The score of a paper `decide` counts as scored."""
    assert s.score is not None
    return s.score


def decide(scores: list[PaperScore], minimum: float, model: str) -> Decision:
    """Re-rank by the model's scores: papers scored `minimum` or more first (best score
    first, ties in retrieval order), then unscored papers in retrieval order; papers
    scored below `minimum` are dropped. Abstain when every paper was scored and none
    reached `minimum`. When no paper got a score, keep the retrieval order and say so."""
    scored = [s for s in scores if s.score is not None]
    unscored = [s for s in scores if s.score is None]
    notices = []
    if unscored:
        failed = [s for s in unscored if s.error]
        what = f"{len(failed)} failed ({failed[0].error})" if failed else ""
        unread = len(unscored) - len(failed)
        what = "; ".join(x for x in (what, f"{unread} gave no readable score" if unread else "") if x)
        notices.append(
            f"The model scored {len(scored)} of {len(scores)} papers for relevance ({what}); "
            + (
                "the unscored ones follow the scored ones, in retrieval order."
                if scored
                else "the papers keep their retrieval order."
            )
        )
    passing = sorted((s for s in scored if _score(s) >= minimum), key=lambda s: -_score(s))  # stable: ties keep rank
    kept = [s.source for s in passing] + [s.source for s in unscored]
    dropped = [s for s in scored if _score(s) < minimum]
    if scored and not kept:
        best = max(_score(s) for s in scored)
        why = (
            f"The model ({model}) rated none of the {len(scores)} closest papers relevant enough to answer from "
            f"(best score {best:g}/10; a paper needs {minimum:g}, PAPERS_LLM_EVIDENCE_MIN)."
        )
        return Decision([], abstain=True, notices=notices, why=why)
    if dropped:
        notices.append(
            f"The model rated {len(dropped)} of the {len(scores)} closest papers below {minimum:g}/10 "
            f"and they were not used: " + ", ".join(f"[{s.source.n}] ({s.score:g})" for s in dropped) + "."
        )
    return Decision(kept, notices=notices)
