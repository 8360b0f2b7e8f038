"""Does the library answer this question, or does it only hold neighbours?

The engine abstains when its *answerability score* falls below the library's
threshold. The score combines signals the evidence already carries (how well the
best sentence means what was asked, how much of the question's vocabulary, and of
its rare vocabulary, the best paper uses, how far the best paper stands out from
the next) by a logistic model whose weights were fitted on leave-gold-out pairs of
two labelled libraries (`python -m evals.experiments.abstention_signals fit`;
train/dev splits only). A user's library has no labelled questions, so the
threshold is *calibrated on the library itself* (`calibrate`): at ingest,
pseudo-questions made from a sample of its own papers are scored once with their
source paper and once without it, and the threshold is read off the two
distributions. It is stored in the index manifest and shown by `papers status`.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from assistant.answer.asked import is_lookup
from assistant.answer.cues import is_finding
from assistant.answer.text import content_terms, overlap
from assistant.index.lexical import tokenize

if TYPE_CHECKING:
    from assistant.records import Hit, Source

# The answerability model: logistic weights over three of `features` (intercept first),
# fitted on leave-gold-out pairs of the golden dev split and SciFact train, each dataset
# weighted equally, L2 1.0 (`python -m evals.experiments.abstention_signals fit`; the other
# signals did not carry over from one dataset to the other: docs/evaluation.md).
WEIGHTS: dict[str, float] = {"intercept": -3.9185, "confidence": 4.0642, "chunk_cosine": 2.0994, "chunk_gap": 4.9175}
# The library's thresholds: these quantiles of its pseudo-questions' scores when their
# source paper is left out, one per question form (a lookup, "Which paper ...?", scores
# differently from a claim or a "what" question, so each form is calibrated on pseudo-
# questions of its own form). Chosen on the same tuning splits: the highest mean
# abstention recall that keeps false abstention at or under 0.10 on both (docs/evaluation.md).
QUANTILES = {"lookup": 0.20, "other": 0.60}
PSEUDO_QUESTIONS = 160  # pseudo-questions per calibration (half from titles, half from findings)
MIN_PSEUDO = 12  # fewer of a form (a tiny library): the fixed DEFAULT_THRESHOLD is used for it
DEFAULT_THRESHOLD = 0.25  # the best single threshold for both tuning datasets under the same rule
REFRESH_CHANGE = 0.10  # recalibrate when the number of papers changed by more than this share
CALIBRATION_VERSION = 2  # bump when `features`, the pseudo-questions or the rule change (WEIGHTS are in the key)
SAMPLE_CHANGE = 0.10  # ... or when more than this share of the sampled papers left the library


def _idf(df: int, n: int) -> float:
    return math.log((n + 1) / (df + 0.5))


def _pairs(tokens: Sequence[str]) -> set[tuple[str, str]]:
    return set(pairwise(tokens))


def features(
    question: str,
    terms: frozenset[str],
    sources: Sequence[Source],
    hits: Sequence[Hit],
    sentences: Sequence[Any],
    sentence_match: float,
    confidence: float,
    counts: Counter[str],
    n_papers: int,
    dense: Sequence[float],
) -> dict[str, float]:
    """The signals (each about 0-1, none depending on the library's size) for the
    best of the top three papers: meaning (`sentence_match`, `chunk_cosine`), shared
    vocabulary (`coverage`, IDF-weighted `idf_coverage`, the same within one sentence,
    `rarest_missing`: the IDF of the rarest question word the paper lacks, relative to
    the question's rarest word), shared phrases (`phrase_coverage`: the question's
    adjacent word pairs found adjacent in the paper), and how far the best paper stands
    out from the next (`chunk_gap`, `sentence_gap`). `dense`: the best chunk cosines of
    the best paper and of the next."""
    f: dict[str, float] = {"confidence": confidence, "sentence_match": sentence_match}
    idf = {t: _idf(counts[t], n_papers) for t in terms}
    total = sum(idf.values())
    top_idf = max(idf.values(), default=1.0) or 1.0
    q_pairs = {p for p in _pairs(tokenize(question)) if p[0] in terms and p[1] in terms}
    cover = idf_cover = sent_cover = phrase = 0.0
    miss = 1.0
    top = list(sources[:3])
    for src in top:
        text = f"{src.paper.title} {src.paper.abstract}"
        words = content_terms(text)
        cover = max(cover, overlap(terms, text) if terms else 0.0)
        if total > 0:
            idf_cover = max(idf_cover, sum(idf[t] for t in terms & words) / total)
        miss = min(miss, max((idf[t] for t in terms - words), default=0.0) / top_idf)
        if q_pairs:
            phrase = max(phrase, len(q_pairs & _pairs(tokenize(text))) / len(q_pairs))
    if total > 0:
        for x in sentences:
            if x.source in top:
                sent_cover = max(sent_cover, sum(idf[t] for t in terms & content_terms(x.text)) / total)
    f.update(
        coverage=cover,
        idf_coverage=idf_cover,
        sentence_idf_coverage=sent_cover,
        rarest_missing=miss,
        phrase_coverage=phrase,
    )
    # `dense`: the best chunk cosine of the best paper and of the next (none: no competitor,
    # e.g. a library of one paper, so no sign that the best paper stands out).
    f["chunk_cosine"] = dense[0] if dense else 0.0
    f["chunk_gap"] = dense[0] - dense[1] if len(dense) > 1 else 0.0
    sent = [h.sentence_score or 0.0 for h in hits[:2]]
    f["sentence_gap"] = sent[0] - sent[1] if len(sent) > 1 else sent[0] if sent else 0.0
    return f


def score(f: dict[str, float], weights: dict[str, float] | None = None) -> float:
    """The answerability score, 0-1: the logistic model over `features`."""
    w = weights or WEIGHTS
    z = w.get("intercept", 0.0) + sum(v * f.get(k, 0.0) for k, v in w.items() if k != "intercept")
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


FEATURES = [
    "confidence",
    "sentence_match",
    "coverage",
    "idf_coverage",
    "sentence_idf_coverage",
    "rarest_missing",
    "phrase_coverage",
    "chunk_cosine",
    "chunk_gap",
    "sentence_gap",
]

_PREFIX = re.compile(r"^[^:]{1,40}:\s+")  # "ADAHESSIAN: " - a name would make the question too easy


def _rank(paper_id: str) -> str:
    return hashlib.sha1(paper_id.encode("utf-8")).hexdigest()


def pseudo_questions(papers: Sequence[Any], n: int) -> list[tuple[str, str]]:
    """(question, source paper id) for a sample of `n` papers (the same sample for the
    same library: papers ordered by a hash of their id). Two forms, alternating: a
    lookup made from the title without its leading name ("Which paper studies an
    adaptive second order optimizer for machine learning?"), and a finding: the
    abstract's sentence stating a result (else its last), as a claim to check."""
    from assistant.answer.text import sentences

    out: list[tuple[str, str]] = []
    for i, paper in enumerate(sorted((p for p in papers if p.abstract and p.title), key=lambda p: _rank(p.id))):
        if len(out) >= n:
            break
        if i % 2 == 0:
            topic = _PREFIX.sub("", paper.title).rstrip(" .?!")
            if len(content_terms(topic)) < 2:
                continue
            out.append((f"Which paper studies {topic[0].lower() + topic[1:]}?", paper.id))
        else:
            sents = [s for s in sentences(paper.abstract) if len(s.split()) >= 6]
            if not sents:
                continue
            later = sents[len(sents) // 2 :]
            claim = next((s for s in later if is_finding(s)), later[-1])
            out.append((" ".join(claim.split()[:30]), paper.id))
    return out


def form(question: str) -> str:
    """'lookup' ("Which paper/method ...?") or 'other' (a claim, a "what/how" question)."""
    return "lookup" if is_lookup(question) else "other"


def choose_threshold(left_out: Sequence[float], quantile: float) -> float | None:
    """The `quantile` of pseudo-questions' scores with their source paper left out
    (None when there are too few to say)."""
    values = sorted(left_out)
    if len(values) < MIN_PSEUDO:
        return None
    pos = quantile * (len(values) - 1)  # linear interpolation, as numpy.quantile's default
    lo = int(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


@dataclass
class Calibration:
    """A library's abstention thresholds (one per question `form`) and what they were
    computed from; stored in the index folder as calibration.json, printed by `papers status`."""

    thresholds: dict[str, float]
    calibrated: dict[str, bool]  # per form; False: too few pseudo-questions, DEFAULT_THRESHOLD
    papers: int  # papers in the library when calibrated
    questions: int  # pseudo-questions scored
    answerable: dict[str, float]  # quantiles (p10, p50) of their scores with the source paper
    left_out: dict[str, float]  # ... and without it
    key: dict[str, Any]  # what the scores depend on; another key means recalibrate
    seconds: float = 0.0
    sample: list[str] = field(default_factory=list)  # ids of the papers the pseudo-questions came from

    def threshold(self, question: str) -> float:
        return self.thresholds[form(question)]

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    @classmethod
    def from_dict(cls, data: Any) -> Calibration | None:
        """The stored calibration, or None when it is not one this version wrote."""
        try:
            cal = cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
            ok = (
                all(isinstance(cal.thresholds.get(f), (int, float)) for f in ("lookup", "other"))
                and isinstance(cal.papers, int)
                and isinstance(cal.key, dict)
                and isinstance(cal.sample, list)
            )
        except (TypeError, KeyError, AttributeError):
            return None
        return cal if ok else None

    def fresh(self, key: dict[str, Any], library: Sequence[str]) -> bool:
        """Still valid for the library of paper ids `library` searched under `key`: the
        same key, about as many papers, and most of the sampled papers still there."""
        if self.key != key or abs(len(library) - self.papers) > REFRESH_CHANGE * max(self.papers, 1):
            return False
        present = set(library)
        gone = sum(1 for pid in self.sample if pid not in present)
        return gone <= SAMPLE_CHANGE * len(self.sample)

    def describe(self) -> str:
        t = self.thresholds
        if not any(self.calibrated.values()):
            return (
                f"threshold {t['other']:.3f} (the default: the library had too few papers to calibrate "
                f"on, {self.papers})"
            )
        return (
            f'thresholds {t["lookup"]:.3f} for "which paper ..." lookups and {t["other"]:.3f} for other '
            f"questions, calibrated on {self.questions} pseudo-questions made from {self.papers} papers' "
            f"titles and findings (answerability with their paper: median {self.answerable['p50']:.2f}; "
            f"without it: median {self.left_out['p50']:.2f})"
        )


def _quantiles(values: Sequence[float]) -> dict[str, float]:
    v = sorted(values)
    if not v:
        return {"p10": 0.0, "p50": 0.0}
    return {"p10": round(v[int(0.1 * (len(v) - 1))], 4), "p50": round(v[int(0.5 * (len(v) - 1))], 4)}


def calibrate(
    papers: Sequence[Any],
    answerability: Callable[[str, frozenset[str]], float | None],
    key: dict[str, Any],
    n: int = PSEUDO_QUESTIONS,
    progress: Callable[[int, int], None] | None = None,
) -> Calibration:
    """Score the library's pseudo-questions with and without their source paper.
    `answerability(question, exclude)`: the engine's score for `question` asked of the
    library without the papers `exclude` (None when it abstains whatever the score,
    e.g. an asked-for quantity no abstract states)."""
    import time

    t0 = time.perf_counter()
    questions = pseudo_questions(papers, n)
    kept, left = [], []
    by_form: dict[str, list[float]] = {"lookup": [], "other": []}
    for i, (question, pid) in enumerate(questions):
        with_it, without = answerability(question, frozenset()), answerability(question, frozenset([pid]))
        if with_it is not None:
            kept.append(with_it)
        if without is not None:
            left.append(without)
            by_form[form(question)].append(without)
        if progress:
            progress(i + 1, len(questions))
    chosen = {f: choose_threshold(v, QUANTILES[f]) for f, v in by_form.items()}
    return Calibration(
        {f: round(t if t is not None else DEFAULT_THRESHOLD, 4) for f, t in chosen.items()},
        {f: t is not None for f, t in chosen.items()},
        len(papers),
        len(questions),
        _quantiles(kept),
        _quantiles(left),
        key,
        round(time.perf_counter() - t0, 2),
        sorted({pid for _, pid in questions}),
    )


def missing_words(
    question: str, paper: Any, counts: Counter[str], n_papers: int, k: int = 3, terms: frozenset[str] | None = None
) -> list[str]:
    """The question's words (as the user wrote them) that `paper` never uses, rarest in
    the library first: what an abstention names as the reason the best match falls short.
    `terms`: only these content terms count (a follow-up's, without "the second one")."""
    have = content_terms(f"{paper.title} {paper.abstract}")
    if terms is not None:
        have = have | (content_terms(question) - terms)
    found: dict[str, tuple[float, str]] = {}
    for word in re.findall(r"[\w-]+", question):
        for term in content_terms(word) - have:
            found.setdefault(term, (_idf(counts[term], n_papers), word))
    return [word for _, word in sorted(found.values(), key=lambda x: -x[0])[:k]]
