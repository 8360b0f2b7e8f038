"""Text helpers of the answer engine: sentences of an abstract (split by
`assistant.index.sentences`, which also embeds them at ingest), and the
content words of a question (for overlap scores and abstention)."""

from __future__ import annotations

import re
from functools import lru_cache

from assistant.index.lexical import tokenize
from assistant.index.sentences import sentence_spans, sentences_of as sentences  # noqa: F401 (the splitter)

# Words that say what kind of question it is, not what it is about.
QUESTION_WORDS = frozenset(
    "which what who whom whose when where why how does do did is are was were can could should would "
    "paper papers work works study studies article articles approach approaches method methods propose proposes "
    "proposed introduce introduces present presents describe describes find finds found show shows report "
    "reports use uses used using author authors there any some one tell me about explain mean means "
    "compare comparison differ difference between versus vs its their collection indexed many much take "
    "takes took".split())
# ... and their folded forms ("does" -> "doe", "studies" -> "study"), since terms are compared folded.
_QUESTION_TERMS = QUESTION_WORDS | frozenset(t for w in QUESTION_WORDS for t in tokenize(w))


@lru_cache(maxsize=4096)
def content_terms(text: str) -> frozenset[str]:
    """Stemmed content words (stopwords and question words removed)."""
    return frozenset(t for t in tokenize(text)
                     if t not in _QUESTION_TERMS and (not t.isdigit() or len(t) >= 4))  # keep years, not "2"


def overlap(question_terms: frozenset[str], text: str) -> float:
    """Share of the question's content words found in `text` (0-1)."""
    if not question_terms:
        return 0.0
    return len(question_terms & content_terms(text)) / len(question_terms)


_MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")


def markers(text: str) -> list[int]:
    """Citation numbers in `text`: [1], [2, 3], [1][4]."""
    return [int(n) for m in _MARKER.finditer(text) for n in re.split(r"[,;]", m.group(1))]


MARKER_RE = _MARKER
