"""Evaluation metrics: pure functions over ids, strings and dicts.

Nothing here opens an index or loads a model; a model-based score (an NLI model,
an LLM judge) can be handed to `faithfulness` as its `scorer`. Every function's
docstring gives its exact definition, including what it returns for the edge
cases (no gold, no citations, nothing abstained, empty input).

Conventions used throughout:

* ``ranked`` is a list of ids, best first; rank r is 1-based (``ranked[0]`` has rank 1).
  It should hold distinct ids; a repeated id keeps its place in the list but only
  its first occurrence can earn credit.
* ``gold`` is either a set of relevant ids (binary relevance) or a dict
  ``{id: relevance}`` (graded, e.g. BEIR qrels). In a dict only ids with
  relevance > 0 count as relevant; 0 means "judged, not relevant".
* A metric that is undefined for an input (0/0) returns ``None``, so that
  `mean` can skip it instead of counting it as 0 or 1. The ranking metrics are the
  exception: with no relevant id they return 0.0 (there is nothing to find), and
  `retrieval_metrics` reports ``None`` for such an item.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

# Cell texts the comparison table writes when an abstract says nothing for that row.
from assistant.answer.compare import NO_MENTION as NO_MENTION_PREFIX
from assistant.answer.compare import NOT_STATED
from assistant.answer.text import content_terms, overlap

Gold = Collection[str] | Mapping[str, float]


# --- retrieval ----------------------------------------------------------------------------------


def _gains(gold: Gold) -> dict[str, float]:
    """Relevant ids with their gain: 1.0 each for a set, the positive relevances of a dict."""
    if isinstance(gold, Mapping):
        return {doc: float(rel) for doc, rel in gold.items() if rel is not None and float(rel) > 0}
    return {doc: 1.0 for doc in gold}


def _check_k(k: int) -> None:
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")


def hit_at_k(ranked: list[str], gold: Gold, k: int) -> float:
    """1.0 if at least one relevant id is among the first ``k`` of ``ranked``, else 0.0.

    ``k`` larger than the list looks at the whole list. No relevant id: 0.0.
    """
    _check_k(k)
    relevant = _gains(gold)
    return 1.0 if any(doc in relevant for doc in ranked[:k]) else 0.0


def recall_at_k(ranked: list[str], gold: Gold, k: int) -> float:
    """``|relevant ∩ set(ranked[:k])| / |relevant|``: the share of the relevant ids
    retrieved in the top ``k`` (a repeated id counts once). No relevant id: 0.0.
    """
    _check_k(k)
    relevant = _gains(gold)
    if not relevant:
        return 0.0
    return len(relevant.keys() & set(ranked[:k])) / len(relevant)


def reciprocal_rank(ranked: list[str], gold: Gold) -> float:
    """``1 / r`` where r is the 1-based rank of the first relevant id in ``ranked``
    (no cut-off); 0.0 if none is ranked or there is no relevant id.
    The mean of this over queries is the MRR.
    """
    relevant = _gains(gold)
    for rank, doc in enumerate(ranked, start=1):
        if doc in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: list[str], gold: Gold, k: int = 10) -> float:
    """Normalised discounted cumulative gain at ``k``, as trec_eval / BEIR compute it:

        DCG@k  = sum over i = 1..min(k, len(ranked)) of gain(ranked[i]) / log2(i + 1)
        IDCG@k = the same sum over the k largest gains of ``gold`` in decreasing order
        nDCG@k = DCG@k / IDCG@k

    gain(id) is 1 for a relevant id of a set, the relevance itself for a dict (linear
    gain, not 2^rel - 1), and 0 for anything else. The ideal ranking is built from all
    of ``gold``, including relevant ids the system never returned. Only the first
    occurrence of an id earns its gain. No relevant id: 0.0.
    """
    _check_k(k)
    gains = _gains(gold)
    if not gains:
        return 0.0
    seen: set[str] = set()
    dcg = 0.0
    for i, doc in enumerate(ranked[:k], start=1):
        if doc in gains and doc not in seen:
            dcg += gains[doc] / math.log2(i + 1)
        seen.add(doc)
    ideal = sorted(gains.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 1) for i, g in enumerate(ideal, start=1))
    return dcg / idcg


def retrieval_metrics(ranked: list[str], gold: Gold, ks: Iterable[int] = (1, 5, 10)) -> dict[str, float | None]:
    """All ranking metrics of one query:

    ``hit@k`` for every k in ``ks``, ``recall@k`` for every k > 1 in ``ks`` (recall@1
    is left out: with one relevant id it is hit@1, with more it is at most 1/|gold|),
    ``mrr`` (the reciprocal rank, no cut-off) and ``ndcg@K`` with K = max(ks).
    With the default ks: hit@1, hit@5, hit@10, recall@5, recall@10, mrr, ndcg@10.

    With no relevant id every value is ``None`` (the query cannot be scored; `mean` skips it).
    """
    ks = sorted(set(ks))
    if not ks:
        raise ValueError("ks must name at least one cut-off")
    keys = [f"hit@{k}" for k in ks] + [f"recall@{k}" for k in ks if k > 1] + ["mrr", f"ndcg@{ks[-1]}"]
    if not _gains(gold):
        return {key: None for key in keys}
    out: dict[str, float | None] = {f"hit@{k}": hit_at_k(ranked, gold, k) for k in ks}
    out.update({f"recall@{k}": recall_at_k(ranked, gold, k) for k in ks if k > 1})
    out["mrr"] = reciprocal_rank(ranked, gold)
    out[f"ndcg@{ks[-1]}"] = ndcg_at_k(ranked, gold, ks[-1])
    return out


# --- grounding ----------------------------------------------------------------------------------


def lexical_support(claim: str, evidence: str) -> float:
    """The offline entailment proxy: the share (0..1) of the claim's content words
    found in the evidence.

    Content words are `assistant.answer.text.content_terms`: lower-cased, lightly
    stemmed tokens of two or more characters, minus English stopwords, question words
    ("which", "paper", "propose", ...) and numbers shorter than four digits. The score is
    ``|terms(claim) ∩ terms(evidence)| / |terms(claim)|``; a claim with no content word
    scores 0.0. It is asymmetric (support of the claim *by* the evidence) and blind to
    negation and word order: a proxy for entailment, not a judge.
    """
    return overlap(content_terms(claim), evidence)


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def sentence_match(quote: str, gold_sentences: list[str], threshold: float = 0.6) -> bool:
    """Does ``quote`` carry one of ``gold_sentences``?

    True if, for some gold sentence g, after collapsing whitespace and case-folding both,
    the quote contains g or g contains the quote (a non-empty quote), or
    ``lexical_support(g, quote) >= threshold`` (most of g's content words are in the quote).
    Empty quote or no gold sentence: False.
    """
    q = _norm(quote)
    if not q:
        return False
    for gold in gold_sentences:
        g = _norm(gold)
        if not g:
            continue
        if g in q or q in g or lexical_support(gold, quote) >= threshold:
            return True
    return False


_WORD = re.compile(r"\w+")


def same_sentence(a: str, b: str) -> bool:
    """Are ``a`` and ``b`` the same sentence, allowing for a different sentence split?
    True when one contains the other after whitespace is collapsed, or they share at
    least 60% of the shorter one's (lower-cased) words."""
    a, b = " ".join(a.split()), " ".join(b.split())
    if not a or not b:
        return False
    if a in b or b in a:
        return True
    wa, wb = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    return len(wa & wb) >= 0.6 * min(len(wa), len(wb))


def rationale_hit(quotes: Iterable[str], rationales: list[str], abstained: bool) -> float | None:
    """1.0 when the answer quotes at least one gold rationale sentence (`same_sentence`),
    else 0.0 (an abstention scores 0.0); ``None`` when the item has no rationale."""
    if not rationales:
        return None
    if abstained:
        return 0.0
    return 1.0 if any(same_sentence(q, r) for q in quotes if q for r in rationales) else 0.0


def _field(citation: Any, name: str) -> Any:
    if isinstance(citation, Mapping):
        return citation.get(name)
    return getattr(citation, name, None)


def citation_precision(citations: list[dict], gold_ids: Collection[str], gold_sentences: list[str]) -> float | None:
    """Share of citations that are correct.

    ``citations``: dicts (``Citation.to_dict()``) or `Citation` objects, read for
    ``paper_id`` and ``quote``. A citation is correct if its paper is one of
    ``gold_ids`` or its quote matches a gold sentence (`sentence_match`, default
    threshold). Every citation counts, repeated ones included.
    No citations: ``None``.
    """
    if not citations:
        return None
    gold = set(gold_ids)
    correct = sum(
        1
        for c in citations
        if _field(c, "paper_id") in gold or sentence_match(_field(c, "quote") or "", gold_sentences)
    )
    return correct / len(citations)


def citation_recall(citations: list[dict], gold_ids: Collection[str]) -> float | None:
    """``|gold_ids ∩ {cited paper ids}| / |gold_ids|``: the share of gold papers cited at
    least once. No gold paper: ``None``; gold but no citation: 0.0.
    """
    gold = set(gold_ids)
    if not gold:
        return None
    cited = {_field(c, "paper_id") for c in citations}
    return len(gold & cited) / len(gold)


# --- abstention ---------------------------------------------------------------------------------


def abstention_metrics(pairs: Iterable[tuple[bool, bool]]) -> dict[str, Any]:
    """Abstention as a detector of unanswerable questions.

    ``pairs``: one ``(answerable, abstained)`` per question. With
    TP = abstained on an unanswerable question, FP = abstained on an answerable one:

    * ``abstention_precision`` = TP / (number of abstentions): of the refusals, the share
      that were right. ``None`` when the system never abstained. (Not 1.0: "no refusal,
      so no wrong refusal" would give a perfect score to a system that never abstains.)
    * ``abstention_recall`` = TP / n_unanswerable: of the unanswerable questions, the
      share refused. ``None`` when there is no unanswerable question.
    * ``false_abstention`` = FP / n_answerable: of the answerable questions, the share
      wrongly refused (lower is better). ``None`` when there is no answerable question.
    * ``n_answerable``, ``n_unanswerable``, ``n_abstained``: the counts.
    """
    pairs = [(bool(a), bool(b)) for a, b in pairs]
    n_answerable = sum(1 for answerable, _ in pairs if answerable)
    n_unanswerable = len(pairs) - n_answerable
    n_abstained = sum(1 for _, abstained in pairs if abstained)
    tp = sum(1 for answerable, abstained in pairs if abstained and not answerable)
    fp = n_abstained - tp
    return {
        "abstention_precision": tp / n_abstained if n_abstained else None,
        "abstention_recall": tp / n_unanswerable if n_unanswerable else None,
        "false_abstention": fp / n_answerable if n_answerable else None,
        "n_answerable": n_answerable,
        "n_unanswerable": n_unanswerable,
        "n_abstained": n_abstained,
    }


def faithfulness(
    pairs: Iterable[tuple[str, list[str]]],
    scorer: Callable[[str, str], float] = lexical_support,
    threshold: float = 0.5,
) -> float | None:
    """Share of answer sentences supported by what they cite.

    ``pairs``: ``(answer sentence, quotes it cites)``. A sentence is supported when
    ``max(scorer(sentence, quote) for quote in quotes) >= threshold``; a sentence citing
    no quote is unsupported. ``scorer(claim, evidence) -> float`` defaults to
    `lexical_support` (offline); pass an NLI model or an LLM judge returning 0/1 for a
    real entailment check. No sentence: ``None``.
    """
    pairs = list(pairs)
    if not pairs:
        return None
    supported = 0
    for sentence, quotes in pairs:
        if quotes and max(scorer(sentence, q) for q in quotes) >= threshold:
            supported += 1
    return supported / len(pairs)


_MARKUP = re.compile(r"[^\w]+")
_VERDICT_LABELS = {"verdict", "answer", "final", "label", "result", "judgement", "judgment"}


def parse_verdict(reply: str, prompt: str | None = None) -> bool | None:
    """Read a judge's reply (prompts/judge.txt asks for one word): True for SUPPORTED,
    False for UNSUPPORTED, ``None`` when the reply says neither.

    The reply is case-folded and every run of non-word characters (markdown ``**``, quotes,
    punctuation, newlines) becomes a space; leading labels ("Verdict:", "Answer:", "Final
    answer:") are dropped. The first word must then be ``supported`` or ``unsupported``
    (``not supported`` counts as unsupported). It is ``None`` when:

    * the first word is anything else (an explanation first, an empty reply);
    * the other verdict word also appears ("SUPPORTED or UNSUPPORTED");
    * more than the verdict came back and the whole reply is a piece of ``prompt``
      (normalised the same way): a model echoing the instructions ("SUPPORTED if the
      evidence states ...") or the prompt itself, as a base model does.
    """
    words = _MARKUP.sub(" ", (reply or "").casefold()).replace("_", " ").split()
    while words and words[0] in _VERDICT_LABELS:
        words = words[1:]
    if not words:
        return None
    if words[0] == "supported":
        verdict, size, other = True, 1, "unsupported"
    elif words[0] == "unsupported":
        verdict, size, other = False, 1, "supported"
    elif words[:2] == ["not", "supported"]:
        verdict, size, other = False, 2, "unsupported"
    else:
        return None
    if other in words[size:]:
        return None
    if len(words) > size and prompt:
        said = " ".join(words)
        if said in " ".join(_MARKUP.sub(" ", prompt.casefold()).replace("_", " ").split()):
            return None
    return verdict


def judged_faithfulness(
    pairs: Iterable[tuple[str, list[str]]], verdict: Callable[[str, str], bool | None]
) -> dict[str, Any]:
    """Faithfulness by a judge that may not give a verdict (a model whose call failed, or
    whose reply `parse_verdict` could not read).

    ``pairs`` as for `faithfulness`; ``verdict(sentence, quote)`` returns True (supported),
    False (not supported) or ``None`` (no verdict). Each sentence's quotes are judged in
    order until one is supported (the rest are not asked). A sentence is

    * supported: some quote is judged supported;
    * unsupported: it cites no quote, or every quote is judged not supported;
    * unscored: no quote is supported and at least one got no verdict (it might have been
      the supporting one); it counts neither way.

    Returns ``{"score": supported / (supported + unsupported) or None when no sentence was
    scored, "sentences", "supported", "unsupported", "unscored"}``. An item with unscored
    sentences is scored on the rest; it is never scored 0 for the judge's failures.
    """
    supported = unsupported = unscored = 0
    for sentence, quotes in pairs:
        undecided = False
        for quote in quotes:
            v = verdict(sentence, quote)
            if v is True:
                supported += 1
                break
            undecided = undecided or v is None
        else:
            if undecided:
                unscored += 1
            else:
                unsupported += 1
    scored = supported + unsupported
    return {
        "score": supported / scored if scored else None,
        "sentences": scored + unscored,
        "supported": supported,
        "unsupported": unsupported,
        "unscored": unscored,
    }


# --- who wrote an answer ------------------------------------------------------------------------

ORIGINS = ("model_written", "fallback", "no_model")


def answer_origin(backend: str | None, fallback: str | None = None) -> str:
    """Who wrote an answer (or a comparison table), from its ``backend`` and ``fallback``
    (`assistant.records.Answer`):

    * ``"model_written"``: backend ``llm:<model>`` (the model's text passed the checks, or the
      model abstained);
    * ``"fallback"``: the model was called and its reply failed or was rejected (backend
      ``extractive (LLM fallback)``, or any backend with a ``fallback`` reason);
    * ``"no_model"``: no model call wrote it (``extractive``, also the threshold's abstentions).
    """
    backend = backend or ""
    if backend.startswith("llm:") and not fallback:
        return "model_written"
    if fallback or "fallback" in backend.casefold():
        return "fallback"
    return "no_model"


# --- comparison tables --------------------------------------------------------------------------


def _filled(text: str | None) -> bool:
    t = " ".join((text or "").split())
    low = t.casefold()
    return bool(t) and low != NOT_STATED and not low.startswith(NO_MENTION_PREFIX)


def table_coverage(comparison: Mapping[str, Any]) -> dict[str, Any]:
    """How much of a comparison table is filled with cited text.

    ``comparison`` is ``Comparison.to_dict()``: ``{"methods": [...], "rows": [{"row": name,
    "cells": {method: {"text": ..., "citations": [...]}}}]}``. Over every (row, method)
    pair (a cell missing from ``cells`` counts as an empty cell):

    * ``cells``: rows x methods;
    * ``filled``: cells whose text is non-empty, not "not stated in the indexed abstracts"
      and not starting with "no indexed abstract mentions" (case-insensitive);
    * ``cited``: filled cells with at least one citation;
    * ``coverage`` = cited / cells; ``None`` for a table with no cell.
    """
    methods = list(comparison.get("methods") or [])
    cells = filled = cited = 0
    for row in comparison.get("rows") or []:
        row_cells = row.get("cells") or {}
        for method in methods:
            cells += 1
            cell = row_cells.get(method) or {}
            if _filled(cell.get("text")):
                filled += 1
                if cell.get("citations"):
                    cited += 1
    return {"cells": cells, "filled": filled, "cited": cited, "coverage": cited / cells if cells else None}


# --- aggregation --------------------------------------------------------------------------------


def percentiles(values: Iterable[float | None], ps: Iterable[float] = (50, 95)) -> dict[str, float]:
    """``{"p50": ..., "p95": ...}``: `numpy.percentile` with linear interpolation
    (the value at position (n - 1) * p / 100 of the sorted values, interpolated between
    neighbours). ``None`` values are dropped; no value left: ``{}``. Key names use the
    shortest form of p ("p50", "p99.9").
    """
    data = [float(v) for v in values if v is not None]
    if not data:
        return {}
    import numpy as np

    ps = list(ps)
    result = np.percentile(np.asarray(data, dtype=float), ps, method="linear")
    return {f"p{p:g}": float(v) for p, v in zip(ps, result)}


def table_citation_precision(comparison: Mapping[str, Any], gold_by_method: Mapping[str, str]) -> float | None:
    """Share of a comparison table's citations whose paper is the gold paper of the
    method whose cell cites it (a cell of ADAHESSIAN citing M-FAC's paper counts as wrong).

    ``comparison`` is ``Comparison.to_dict()``; ``gold_by_method`` maps each of its
    ``methods`` to that method's gold paper id (a method without one: its citations count
    as wrong). Every citation of every cell counts, the Year row's too, and a paper cited
    by several cells counts each time. ``None`` when the table cites nothing.
    """
    hits = total = 0
    for row in comparison.get("rows") or []:
        for method, cell in (row.get("cells") or {}).items():
            for citation in cell.get("citations") or []:
                total += 1
                hits += citation.get("paper_id") == gold_by_method.get(method)
    return hits / total if total else None


def mean(values: Iterable[float | None]) -> float | None:
    """Arithmetic mean of the values that are not ``None`` (booleans count as 0/1);
    ``None`` when no value is left."""
    data = [float(v) for v in values if v is not None]
    return sum(data) / len(data) if data else None


def group_means(rows: list[Mapping[str, Any]], by: str, keys: list[str]) -> dict[str, dict[str, float | None]]:
    """``{group: {key: mean}}`` over ``rows`` grouped by ``row[by]``, plus ``"all"`` over every
    row. Means use `mean` (a row without the key, or with ``None``, is skipped for that key).
    Groups appear in first-seen order, ``"all"`` last. A row without ``by`` only counts in
    ``"all"``; a group literally named "all" is an error.
    """
    groups: dict[Any, list[Mapping[str, Any]]] = {}
    for row in rows:
        if by in row:
            if row[by] == "all":
                raise ValueError(f"group_means: a group named 'all' (field {by!r}) clashes with the total")
            groups.setdefault(row[by], []).append(row)
    out = {group: {key: mean(r.get(key) for r in members) for key in keys} for group, members in groups.items()}
    out["all"] = {key: mean(r.get(key) for r in rows) for key in keys}
    return out
