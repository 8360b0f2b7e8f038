"""The query engine: question -> evidence -> answer, with one of two backends.

- extractive (default, no key, no network): quotes the abstract sentences that
  answer the question, each with its citation;
- LLM: any OpenAI-compatible endpoint writes the answer from numbered sources;
  its citations are then checked and tied to supporting sentences. When the
  endpoint fails for good, the extractive answer is given with a notice.

Both abstain, listing the closest papers, when the evidence is too weak."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Generator
from typing import Any

from assistant.answer import abstain, accept, extractive, fallback, quotes, scoring
from assistant.answer import citations as cites
from assistant.answer.accept import ABSTAIN_PHRASE
from assistant.answer.blocks import neutralise, source_block
from assistant.answer.evidence import Evidence, PaperTerms, SentenceVectors, gather
from assistant.answer.evidence import confidence as paper_confidence
from assistant.answer.text import content_terms
from assistant.index import PaperIndex
from assistant.llm import ChatLLM, Ledger, LLMError, count_tokens, fit_to_budget, room_in_window
from assistant.llm.prompts import render
from assistant.records import Answer, Source
from assistant.retrieve import Filters, QueryError, clip_query
from assistant.settings import Settings

log = logging.getLogger(__name__)
Events = Generator[str, None, Answer]

# A filtered question abstains when the unfiltered evidence's confidence beats the filtered
# one's by at least this much and its best paper is outside the filter. On the bundled
# corpus the filters that leave only loose matches trail by 0.25-0.47 (hard patches mining
# from 2016, masked image modeling in 2023-2024 or in CV, the Hessian-diagonal optimizer
# from 2020, knowledge distillation from 2022, contrastive learning in CV), those that keep
# a fitting paper by 0-0.09 (scaling laws from 2020, progressive pruning in file 004_,
# adversarial training in LG, over-squashing from 2020): the margin sits between the two.
FILTER_MARGIN = 0.15
MIN_SOURCE_WORDS = 20  # an abstract cut shorter than this says too little to answer from


class AnswerStream:
    """Iterate for text as it is written; `.answer` holds the checked Answer once
    the iteration is over (its text may differ from the streamed one: markers
    that named no source are removed, a failed LLM gives way to the extractive answer)."""

    def __init__(self, events: Events):
        self._events = events
        self.answer: Answer | None = None
        self.finishers: list = []  # callables applied to the answer when it is complete

    def __iter__(self) -> Generator[str, None, None]:
        answer = yield from self._events
        for finish in self.finishers:
            finish(answer)
        self.answer = answer

    def result(self) -> Answer:
        """Drain the stream (if not done) and return the answer."""
        if self.answer is None:
            for _ in self:
                pass
        assert self.answer is not None
        return self.answer


def drain(events: Events) -> Answer:
    stream = AnswerStream(events)
    return stream.result()


def check_question(question: Any, max_chars: int) -> tuple[str, list[str]]:
    if not isinstance(question, str) or not question.strip():
        raise QueryError(
            "empty question: ask something about the papers, e.g. "
            '"What is hard patches mining in masked image modeling?"'
        )
    question, notices = clip_query(question, max_chars, "question")
    if not content_terms(question):
        raise QueryError(
            f"the question {question[:80]!r} has no words to search for (only words like "
            f"'which', 'the', 'is'); say what the papers should be about"
        )
    return question, notices


class AnswerEngine:
    def __init__(self, index: PaperIndex, settings: Settings, llm: ChatLLM | None = None):
        self.index, self.settings, self.llm = index, settings, llm
        self._calibration: abstain.Calibration | None = None
        self._calibration_lock = threading.Lock()
        self._calibrated_for: tuple[list, dict] | None = None  # (the paper list, key) last checked
        self.vectors = SentenceVectors(index)
        self.paper_terms = PaperTerms(index)
        self._scorer = scoring.Scorer(llm, settings) if llm is not None else None  # its cache is per engine

    @property
    def backend(self) -> str:
        return f"llm:{self.llm.model}" if self.llm else "extractive"

    # --- evidence -------------------------------------------------------------
    def evidence(
        self,
        question: str,
        filters: Filters | dict | None = None,
        restrict: list[str] | None = None,
        asked: str | None = None,
        exclude: Collection[str] = (),
    ) -> Evidence:
        return gather(
            self.index,
            self.vectors,
            self.paper_terms,
            question,
            self.settings.answer_papers,
            filters,
            restrict,
            asked,
            exclude,
        )

    def abstains(self, evidence: Evidence) -> bool:
        return (
            not evidence.sources
            or evidence.answerability < self.threshold(evidence.question)
            or evidence.nothing_stated
        )

    # --- the library's abstention threshold -----------------------------------------
    def threshold(self, question: str) -> float:
        """Answerability below which an answer to `question` abstains: the
        `abstain_threshold` setting when set, else the library's own calibration for the
        question's form (a "which paper" lookup or another question)."""
        if self.settings.abstain_threshold is not None:
            return self.settings.abstain_threshold
        return self.calibration().threshold(question)

    def calibration_key(self) -> dict[str, Any]:
        """What the pseudo-questions' scores depend on: another key means recalibrate."""
        s = self.settings
        return {
            "version": abstain.CALIBRATION_VERSION,
            "index": s.shaping_hash(),
            "weights": abstain.WEIGHTS,
            "default": abstain.DEFAULT_THRESHOLD,
            "quantiles": abstain.QUANTILES,
            "questions": abstain.PSEUDO_QUESTIONS,
            **{
                k: getattr(s, k)
                for k in (
                    "top_k",
                    "candidates",
                    "rrf_k",
                    "dense_weight",
                    "bm25_weight",
                    "sentence_weight",
                    "answer_papers",
                    "sentence_vectors",
                )
            },
        }

    def calibration(self, progress: Callable[[int, int], None] | None = None) -> abstain.Calibration:
        """The library's abstention calibration: kept in memory, read from the index folder,
        or computed (320 evidence look-ups: 10-20 s on 2 cores) when missing or stale (other
        search settings or model, a tenth more or fewer papers, or a tenth of the sampled
        papers gone)."""
        with self._calibration_lock:
            key, papers = self.calibration_key(), self.index.papers
            current = self._calibration
            checked = self._calibrated_for
            if current is not None and checked is not None and checked[0] is papers and checked[1] == key:
                return current  # already checked against this very paper list
            library = [p.id for p in papers]
            if current is not None and current.fresh(key, library):
                self._calibrated_for = (papers, key)
                return current
            current = abstain.Calibration.from_dict(self.index.folder.read_calibration() or {})
            if current is None or not current.fresh(key, library):
                current = abstain.calibrate(self.index.papers, self._answerability, key, progress=progress)
                if self.index.exists:
                    try:
                        self.index.folder.write_calibration(current.to_dict())
                    except OSError as exc:  # kept in memory: answers go on, the next run recalibrates
                        log.warning("could not store the abstention calibration in %s: %s", self.index.folder.path, exc)
            self._calibration, self._calibrated_for = current, (papers, key)
            return current

    def _answerability(self, question: str, exclude: frozenset[str]) -> float | None:
        evidence = self.evidence(question, exclude=exclude)
        if evidence.nothing_stated:
            return None  # abstains whatever its score: says nothing about the threshold
        return evidence.answerability if evidence.sources else 0.0

    # --- answers ----------------------------------------------------------------
    def ask(
        self,
        question: str,
        filters: Filters | dict | None = None,
        stream: bool = False,
        restrict: list[str] | None = None,
        asked: str | None = None,
        exclude: Collection[str] = (),
    ) -> Answer | AnswerStream:
        """`exclude`: paper ids answered as if not indexed (leave-gold-out evaluation)."""
        events = self.events(question, filters, restrict, asked, exclude)
        return AnswerStream(events) if stream else drain(events)

    def events(
        self,
        question: str,
        filters=None,
        restrict: list[str] | None = None,
        asked: str | None = None,
        exclude: Collection[str] = (),
    ) -> Events:
        t0 = time.perf_counter()
        question, notices = check_question(question, self.settings.max_query_chars)
        evidence = self.evidence(question, filters, restrict, asked, exclude)
        notices += evidence.notices
        outside = self.better_outside_filter(question, evidence, filters, restrict, asked, exclude)
        if outside:
            answer = self.filter_abstention(question, evidence, Filters.coerce(filters), outside)
            yield answer.text
        elif self.abstains(evidence):
            answer = self.abstention(question, evidence)
            yield answer.text
        elif self.llm is not None:
            answer = yield from self._llm_answer(question, evidence)
        else:
            answer = self.extractive(question, evidence)
            for paragraph in answer.text.split("\n\n"):  # streamed paragraph by paragraph
                yield paragraph + "\n\n"
        if evidence.unstated and not answer.abstained:
            notices.append(
                "The top abstracts give no value for: " + "; ".join(f.describe() for f in evidence.unstated) + "."
            )
        answer.notices = notices + answer.notices
        answer.filter_excluded = dict(evidence.filter_excluded)
        answer.timings = {**evidence.timings, **answer.timings, "total": time.perf_counter() - t0}
        return answer

    def better_outside_filter(
        self,
        question: str,
        evidence: Evidence,
        filters: Filters | dict | None,
        restrict: list[str] | None = None,
        asked: str | None = None,
        exclude: Collection[str] = (),
    ) -> list[Source]:
        """The papers a filter leaves out that answer clearly better (FILTER_MARGIN) than
        anything it keeps, best first; empty when no filter is set, when the unfiltered
        evidence would abstain too, or when its best paper passes the filter. Without this
        a filter that leaves out the answering papers gets an answer quoted from papers that
        merely share a word with the question. Costs one more (unfiltered) search."""
        filters = Filters.coerce(filters)
        if not filters.active:
            return []
        if restrict:  # a follow-up about papers the filter leaves out: say so, do not answer from others
            named = [self.index.paper_by_id[pid] for pid in restrict if pid in self.index.paper_by_id]
            if named and not any(filters.allows(p) for p in named):
                return [Source(n, p, 0.0) for n, p in enumerate(named, start=1)]
        t = time.perf_counter()
        unfiltered = self.evidence(question, None, restrict, asked, exclude)
        evidence.timings["filter_check"] = time.perf_counter() - t
        if self.abstains(unfiltered) or unfiltered.confidence < evidence.confidence + FILTER_MARGIN:
            return []
        best = next((s for s in unfiltered.sources if s.n == unfiltered.signals.get("paper")), None)
        if best is None or filters.allows(best.paper):
            return []
        # The top papers (those the confidence looks at), each scored alone as it scores the best.
        scored = [
            (paper_confidence(unfiltered.terms, [src], unfiltered.sentences)[0], src)
            for src in unfiltered.sources[:3]
            if not filters.allows(src.paper)
        ]
        return [
            src for value, src in sorted(scored, key=lambda vs: -vs[0]) if value >= evidence.confidence + FILTER_MARGIN
        ]

    def filter_abstention(self, question: str, evidence: Evidence, filters: Filters, outside: list[Source]) -> Answer:
        """Say the filter leaves out the papers that answer, name them and why it leaves
        each out, and list the closest papers it keeps (the answer's sources)."""
        lines = [
            f"Within the filter ({filters.describe()}), no paper answers this as well as papers the filter leaves out:",
            "",
        ]
        lines += [f"- {extractive.paper_label(src.paper)}: {filters.why_not(src.paper)}" for src in outside]
        lacking = {name for src in outside for name in filters.lacking(src.paper)}
        lines += [
            "",
            "Remove or widen the filter"
            + (
                ", or include the papers that lack the filtered field"
                if lacking and not filters.include_unknown
                else ""
            )
            + ".",
        ]
        if evidence.sources:
            lines += ["", "The closest papers within the filter are:", ""]
            lines += [f"- {extractive.paper_label(src.paper)}" for src in evidence.sources[:5]]
        return Answer(
            question,
            "\n".join(lines),
            [],
            evidence.sources,
            abstained=True,
            backend="extractive",
            confidence=evidence.answerability,
            outside_filter=list(outside),
        )

    def abstention(self, question: str, evidence: Evidence, by_model: str | None = None) -> Answer:
        """The abstention: why, and the closest papers. `by_model`: the model's reason (it
        said the sources do not answer, although the evidence passed the threshold)."""
        if not evidence.sources:
            lines = ["The indexed abstracts do not answer this question. No indexed paper matches it."]
        else:
            score, threshold = evidence.answerability, self.threshold(evidence.question)
            best = next((s for s in evidence.sources if s.n == evidence.signals.get("paper")), evidence.sources[0])
            if by_model:
                why = by_model
            elif evidence.nothing_stated and (score >= threshold or evidence.signals.get("restricted")):
                asked = "; ".join(f.describe() for f in evidence.unstated)
                why = (
                    f"The closest abstracts do not state this ({asked}): none of their sentences gives a value for it."
                )
            else:
                missing = abstain.missing_words(
                    question, best.paper, self.paper_terms.counts(), len(self.index.papers), terms=evidence.terms
                )
                lacks = (
                    f"does not mention {', '.join(f'“{w}”' for w in missing)}"
                    if missing
                    else "uses the question's words, but none of its sentences says what it asks"
                )
                why = (
                    f"The indexed abstracts do not answer this question: the closest papers only share its "
                    f"topic. The best match, {extractive.paper_label(best.paper)}, {lacks} (answerability "
                    f"{score:.2f}, below the {threshold:.2f} this library needs to answer)."
                )
            lines = [f"{why} The closest papers are:", ""]
            lines += [f"- {extractive.paper_label(src.paper)}" for src in evidence.sources[:5]]
        # Written by the model's abstention only when it decided; the threshold's calls no model.
        return Answer(
            question,
            "\n".join(lines),
            [],
            evidence.sources,
            abstained=True,
            backend=self.backend if by_model else "extractive",
            confidence=evidence.answerability,
        )

    def extractive(self, question: str, evidence: Evidence, backend: str = "extractive") -> Answer:
        t = time.perf_counter()
        text, citations = extractive.compose(evidence, self.settings.answer_sentences, self.settings.answer_close)
        text, per_sentence, checks = cites.check(text, evidence.sources)
        # Number each citation with the answer sentence that quotes it.
        quoted = iter(i for i, marks in enumerate(per_sentence) for _ in marks)
        for c in citations:
            c.sentence = next(quoted, None)
        return Answer(
            question,
            text,
            citations,
            evidence.sources,
            backend=backend,
            confidence=evidence.answerability,
            checks=checks,
            timings={"compose": time.perf_counter() - t},
        )

    # --- LLM ----------------------------------------------------------------------
    # The model's answer: evidence scored by the model (scoring.py), quotes verified
    # against the abstracts (quotes.py), the answer written from the verified quotes,
    # then checked by the one acceptance rule (accept.py). Any failure or rejection gives
    # the extractive answer with a notice that names the reason.

    def _window(self) -> tuple[int, str]:
        """The context window the prompts must fit (the server's, or the setting)."""
        assert self.llm is not None
        return self.llm.context_window()

    def fit_sources(
        self,
        prompt: str,
        values: dict[str, str],
        sources: list[Source],
        reply_tokens: int,
        quoted: list[list[str]] | None = None,
    ) -> tuple[list[dict], list[Source]]:
        """Prompt `prompt` with as many of `sources` as fit the context window with
        `reply_tokens` to spare: their abstracts, or their `quoted` sentences (one list per
        source), within `llm.room_in_window`. When not even one source fits, the best one is cut (its abstract's
        words, or its quotes); when not even that fits, LLMError(overflow=True) names the
        window and the settings to change."""
        assert self.llm is not None
        window, where = self._window()
        budget = room_in_window(window, render(prompt, self.settings, sources="", **values), reply_tokens)
        if quoted is not None:
            blocks = [source_block(src, quoted=q) for src, q in zip(sources, quoted)]
        else:
            blocks = [source_block(src) for src in sources]
        fit = fit_to_budget([b + "\n\n" for b in blocks], budget)
        used = sources[:fit]
        if fit == 0 and blocks:
            src = sources[0]
            if quoted is not None:
                kept = list(quoted[0])
                while kept and count_tokens(source_block(src, quoted=kept)) > budget:
                    kept.pop()
                block = source_block(src, quoted=kept) if kept else ""
            else:
                words = src.paper.abstract.split()
                while words and count_tokens(source_block(src, " ".join(words))) > budget:
                    words = words[: int(len(words) * 0.8)]
                block = source_block(src, " ".join(words)) if len(words) >= MIN_SOURCE_WORDS else ""
            if not block:
                raise LLMError(
                    f"LLM endpoint {self.llm.base_url} (model {self.llm.model}): the prompt does not fit the model's "
                    f"context window: {window} tokens (from {where}) leave no room for a source after the "
                    f"instructions and the reply (up to {reply_tokens} tokens). Set PAPERS_LLM_CONTEXT_TOKENS to the "
                    f"server's window, or lower PAPERS_LLM_MAX_TOKENS.",
                    overflow=True,
                )
            blocks, used = [block], [src]
        return render(prompt, self.settings, sources="\n\n".join(blocks[: len(used)]), **values), used

    def _cut_notes(
        self, messages: list[dict], used: list[Source], quoted: dict[int, list[str]] | None = None
    ) -> list[str]:
        """A notice for a source `fit_sources` had to cut to fit the window (the only case
        where a prompt holds less of a source than it was given)."""
        prompt = messages[-1]["content"] if messages else ""
        out = []
        for src in used:
            whole = quoted.get(src.n, []) if quoted is not None else [src.paper.abstract]
            if any(neutralise(part) not in prompt for part in whole):
                what = "quotes" if quoted is not None else "abstract"
                out.append(
                    f"Paper [{src.n}]'s {what} had to be cut to fit the model's context window "
                    f"({self._window()[0]} tokens)."
                )
        return out

    @property
    def scorer(self) -> scoring.Scorer:
        assert self.llm is not None and self._scorer is not None
        return self._scorer

    def _fallback(
        self, question: str, evidence: Evidence, reason: str, ledger: Ledger, timings: dict[str, float]
    ) -> Answer:
        """The extractive answer, shown because the model's was not: `reason` says why."""
        assert self.llm is not None
        answer = fallback.mark(self.extractive(question, evidence), reason, self.llm)
        answer.usage = ledger.to_dict()
        answer.timings.update(timings)
        return answer

    def _ask_model(
        self,
        step: str,
        build: Callable[[], tuple[list[dict], list[Source]]],
        ledger: Ledger,
        max_tokens: int,
        stream: bool,
    ) -> Generator[str, None, tuple[list[dict], list[Source], Any]]:
        """One model step: the prompt `build()` fits to the context window, sent (its text
        yielded as it streams when `stream`); returns (messages, sources used, completion).
        When the request does not fit the server's window (an overflow error, or the empty
        stream llama.cpp sends for one, which names no number), it is asked once without
        streaming (a server names its window there, and the client remembers it); when that
        names a smaller window than the prompt was fitted to, the prompt is fitted again and
        asked once more. Every call is recorded in `ledger`; a failure raises LLMError."""
        assert self.llm is not None
        messages: list[dict] = []
        fitted_to = None
        try:
            messages, used = build()
            fitted_to = self._window()[0]
            if stream:
                try:
                    reply = self.llm.stream(messages, max_tokens=max_tokens)
                    yield from reply
                    completion = reply.completion
                except LLMError as exc:
                    if exc.mid_stream or not (exc.overflow or exc.empty_stream):
                        raise
                    ledger.failure(step, exc, messages)
                    messages = []  # recorded above: not again if build() fails
                    messages, used = build()
                    fitted_to = self._window()[0]
                    completion = self.llm.complete(messages, max_tokens=max_tokens)
            else:
                completion = self.llm.complete(messages, max_tokens=max_tokens)
        except LLMError as exc:
            if messages:
                ledger.failure(step, exc, messages)
            if not exc.overflow or fitted_to is None or self._window()[0] >= fitted_to:
                raise
            messages, used = build()  # fitted to the window the server named
            try:
                completion = self.llm.complete(messages, max_tokens=max_tokens)
            except LLMError as again:
                ledger.failure(step, again, messages)
                raise
        assert completion is not None
        ledger.record(step, completion)
        return messages, used, completion

    def _model_abstention(
        self, question: str, evidence: Evidence, why: str, ledger: Ledger, timings: dict[str, float]
    ) -> Answer:
        answer = self.abstention(question, evidence, by_model=why)
        answer.usage = ledger.to_dict()
        answer.timings.update(timings)
        return answer

    def _llm_answer(self, question: str, evidence: Evidence) -> Events:
        assert self.llm is not None
        s, llm = self.settings, self.llm
        t0 = time.perf_counter()
        ledger = Ledger(s, llm.model)
        timings: dict[str, float] = {}
        notices: list[str] = []

        def spent() -> dict[str, float]:  # wall time in the model's steps so far, and in this whole step
            in_model = sum(timings.get(k, 0.0) for k in ("evidence", "quotes", "write"))
            return {**timings, "llm": in_model, "answer": time.perf_counter() - t0}

        def fail(reason: str) -> Answer:  # the extractive answer, with the notices so far and the reason
            answer = self._fallback(question, evidence, reason, ledger, spent())
            answer.notices = notices + answer.notices
            return answer

        sources = list(evidence.sources)
        if s.llm_evidence:
            t = time.perf_counter()
            scores = self.scorer.score(question, sources[: s.llm_evidence_papers], ledger)
            timings["evidence"] = time.perf_counter() - t
            if scores and all(sc.error for sc in scores):
                # every call failed (endpoint down, refused key...): the next call would fail alike, after
                # as many retries again
                answer = fail(f"the model failed ({scores[0].error})")
                yield answer.text
                return answer
            decision = scoring.decide(scores, s.llm_evidence_min, llm.model)
            notices += decision.notices
            if decision.abstain:
                answer = self._model_abstention(question, evidence, decision.why, ledger, spent())
                answer.notices = notices + answer.notices
                yield answer.text
                return answer
            # the scored papers, re-ranked and filtered (unscored ones after them, in retrieval order)
            sources = decision.kept

        values = {"question": question, "abstain_phrase": ABSTAIN_PHRASE}
        if s.llm_quotes:
            t = time.perf_counter()
            try:
                messages, used, completion = yield from self._ask_model(
                    "quotes",
                    lambda: self.fit_sources("quotes", values, sources, s.llm_quote_max_tokens),
                    ledger,
                    s.llm_quote_max_tokens,
                    stream=False,
                )
            except LLMError as exc:
                timings["quotes"] = time.perf_counter() - t
                answer = fail(fallback.reason_of(exc))
                yield answer.text
                return answer
            timings["quotes"] = time.perf_counter() - t
            notices += self._cut_notes(messages, used)
            if len(used) < len(sources):
                notices.append(
                    f"Only {len(used)} of the {len(sources)} papers fit the model's context window "
                    f"({self._window()[0]} tokens) for quoting."
                )
            if accept.abstains(completion.text):
                answer = self._model_abstention(
                    question,
                    evidence,
                    f"The model ({llm.model}) found nothing in the closest abstracts that answers this.",
                    ledger,
                    spent(),
                )
                answer.notices = notices + answer.notices
                yield answer.text
                return answer
            found = quotes.verify_all(quotes.parse(completion.text), used)
            groups = quotes.grouped(found, used)
            if not groups:
                answer = fail(
                    f"none of the model's {len(found)} quotes was found in the abstracts"
                    if found
                    else "the model listed no quote from the abstracts"
                )
                yield answer.text
                return answer
            unverified = sum(not q.verified for q in found)
            if unverified:
                notices.append(
                    f"{unverified} of the model's {len(found)} quotes were not found in the abstracts "
                    f"and were not used."
                )
            build = lambda: self.fit_sources(  # noqa: E731
                "answer",
                values,
                [src for src, _ in groups],
                s.llm_max_tokens,
                quoted=[texts for _, texts in groups],
            )
            offered = len(groups)
            quoted = {src.n: texts for src, texts in groups}
        else:
            build = lambda: self.fit_sources("answer", values, sources, s.llm_max_tokens)  # noqa: E731
            offered = len(sources)
            quoted = None
        t = time.perf_counter()
        try:
            messages, used_for_answer, completion = yield from self._ask_model(
                "answer", build, ledger, s.llm_max_tokens, stream=True
            )
        except LLMError as exc:
            timings["write"] = time.perf_counter() - t
            shown = " after part of it was streamed as a draft" if exc.mid_stream else ""
            return fail(f"the model failed{shown} ({exc})")
        timings["write"] = time.perf_counter() - t
        notices += [n for n in self._cut_notes(messages, used_for_answer, quoted) if n not in notices]
        if len(used_for_answer) < offered:
            notices.append(
                f"Only {len(used_for_answer)} of the {offered} papers fit the model's context window "
                f"({self._window()[0]} tokens); the answer was written from those."
            )
        cut = completion.cut_reason if completion.cut else None
        tc = time.perf_counter()
        verdict = accept.answer(completion.text, used_for_answer, self.vectors, messages, cut=cut)
        timings["citations"] = time.perf_counter() - tc
        if verdict.abstained:
            answer = self._model_abstention(
                question,
                evidence,
                f"The model ({llm.model}) said the closest abstracts do not answer this.",
                ledger,
                spent(),
            )
        elif not verdict.ok:
            return fail(verdict.reason or "it failed the checks")
        else:
            answer = Answer(
                question,
                verdict.text,
                verdict.citations,
                evidence.sources,
                backend=self.backend,
                confidence=evidence.answerability,
                checks=verdict.checks,
                notices=verdict.notices,
                timings=spent(),
                usage=ledger.to_dict(),
            )
        answer.notices = notices + answer.notices
        return answer


__all__ = ["AnswerEngine", "AnswerStream", "ABSTAIN_PHRASE"]
