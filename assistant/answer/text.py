"""Text helpers of the answer engine: sentences of an abstract (split by
`assistant.index.sentences`, which also embeds them at ingest), and the
content words of a question (for overlap scores and abstention)."""

from __future__ import annotations

import math
import re
from functools import lru_cache

from assistant.index.lexical import tokenize
from assistant.index.sentences import sentence_spans  # noqa: F401 (the splitter, re-exported)
from assistant.index.sentences import sentences_of as sentences  # noqa: F401 (re-exported)

# Words that say what kind of question it is, not what it is about.
QUESTION_WORDS = frozenset(
    "which what who whom whose when where why how does do did is are was were can could should would "
    "paper papers work works study studies article articles approach approaches method methods propose proposes "
    "proposed introduce introduces present presents describe describes find finds found show shows report "
    "reports use uses used using author authors there any some one tell me about explain mean means "
    "compare comparison differ difference between versus vs its their collection indexed many much take "
    "takes took".split()
)
# ... and their folded forms ("does" -> "doe", "studies" -> "study"), since terms are compared folded.
_QUESTION_TERMS = QUESTION_WORDS | frozenset(t for w in QUESTION_WORDS for t in tokenize(w))


@lru_cache(maxsize=4096)
def content_terms(text: str) -> frozenset[str]:
    """Stemmed content words (stopwords and question words removed)."""
    return frozenset(
        t for t in tokenize(text) if t not in _QUESTION_TERMS and (not t.isdigit() or len(t) >= 4)
    )  # keep years, not "2"


def overlap(question_terms: frozenset[str], text: str) -> float:
    """Share of the question's content words found in `text` (0-1)."""
    if not question_terms:
        return 0.0
    return len(question_terms & content_terms(text)) / len(question_terms)


def weighted_overlaps(question_terms: frozenset[str], texts: list[str]) -> list[float]:
    """For each of `texts`, the share of the question's content words it contains (0-1),
    each word weighted by how few of `texts` contain it (IDF within them). Among the
    sentences of the retrieved abstracts the words naming the topic are everywhere and
    say little about which sentence answers; the rarer ones (the relation asked about,
    a named entity) say more. Scored on SciFact train rationales and golden dev (see
    `evidence.weigh`), this beat the plain share on both."""
    if not question_terms or not texts:
        return [0.0] * len(texts)
    words = [content_terms(t) for t in texts]
    weight = {t: math.log(1.0 + len(texts) / (1.0 + sum(t in w for w in words))) for t in question_terms}
    total = sum(weight.values())
    return [sum(weight[t] for t in question_terms & w) / total for w in words]


# The citation marker: [1], or [2, 3] / [2; 3] before `citations.normalize_markers` splits it
# into [2][3]. The one pattern of the project: other patterns embed MARKER, group 1 is the numbers.
MARKER = r"\[(\d+(?:\s*[,;]\s*\d+)*)\]"
MARKER_RE = re.compile(MARKER)


def marker_numbers(inside: str) -> list[int]:
    """The numbers of one marker's group 1: '2, 3' -> [2, 3]."""
    return [int(n) for n in re.split(r"[,;]", inside)]


def markers(text: str) -> list[int]:
    """Citation numbers in `text`: [1], [2, 3], [1][4]."""
    return [n for m in MARKER_RE.finditer(text) for n in marker_numbers(m.group(1))]


def strip_markers(text: str) -> str:
    """`text` without its citation markers."""
    return MARKER_RE.sub("", text)
