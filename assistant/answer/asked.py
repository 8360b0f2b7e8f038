"""What kind of answer a question asks for, and whether a sentence states it.

Abstracts often name a method and its headline result but leave out the
details a reader asks about: hyper-parameters, hardware, compute, a result on
a benchmark the abstract does not report. A paper about the right method then
matches the question well, so the evidence confidence alone cannot tell
"answered" from "not stated". For questions that ask for a *quantity* ("How
many GPUs...", "What dropout rate...", "By how much..."), this module finds
the asked-for thing (`focus`: the words naming it) so the engine can check that
some evidence sentence mentions it *and* gives a number; when none does, the
engine says the abstracts do not state it instead of quoting a near miss.

Questions that ask for something other than a quantity are not checked here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.answer.text import content_terms

_ARTIFACT = (
    r"(?:papers?|works?|stud(?:y|ies)|articles?|publications?|methods?|approach(?:es)?|techniques?|"
    r"algorithms?|systems?|frameworks?|architectures?|models?|networks?|datasets?|benchmarks?|"
    r"pipelines?|suites?|contributions?|releases?)"
)
_LOOKUP = re.compile(
    r"^\s*(?:(?:which|what)\s+(?:[\w-]+\s+){0,3}" + _ARTIFACT + r"\b(?!\s+(?:does|do|did|is|are|was|were)\b)"
    r"|(?:is|are)\s+there\s+(?:any\s+|an?\s+)?(?:papers?|works?|stud(?:y|ies))\b"
    r"|(?:find|list|show(?:\s+me)?|name)\s+(?:\w+\s+){0,2}(?:papers?|works?|stud(?:y|ies))\b"
    r"|(?:any|a)\s+papers?\b)",
    re.IGNORECASE,
)


def is_lookup(question: str) -> bool:
    """'Which paper ...?' asks for papers, not facts: lead with the paper."""
    return bool(_LOOKUP.search(question))


# Nouns that name a measured quantity: "what X does ..." asks for a number when X ends in one.
MEASURES = frozenset(
    """
rate ratio size accuracy error errors fraction percentage percent proportion share number count amount
score scores speed speedup cost costs time latency throughput memory energy budget epochs epoch steps
iterations gpus gpu hours days parameters params layers dimension dimensions width depth temperature
radius threshold margin rank bleu fid ap map auc f1 perplexity ppl psnr ssim miou wer top-1 top-5 flops
""".split()
)

_AUX = (
    r"(?:does|do|did|is|are|was|were|has|have|had|can|could|should|would|will|must|might|"
    r"achieves?|reach(?:es)?|gets?|gives?|uses?|reports?)"
)
# "(On|For|...) what|which <noun phrase> <auxiliary or verb>": the noun phrase is what is asked for.
_WHAT = re.compile(
    r"^\s*(?:(?:on|in|for|at|with|from|to|under|by)\s+)?(?:what|which)\s+"
    rf"(?P<np>[^?]{{1,80}}?)\s+{_AUX}\b",
    re.IGNORECASE,
)
# "What is/are the <quantity> of|for|in <subject>": the quantity is the noun phrase before the subject
# ("What is the masking ratio of MAE?"); "the number of <things> of <subject>" keeps what is counted.
_WHAT_IS = re.compile(
    r"^\s*(?:(?:on|in|for|at|with|from|to|under|by)\s+)?(?:what|which)\s+(?:is|are|was|were)\s+"
    r"(?:the\s+|an?\s+)?(?P<np>[^?]{1,80})",
    re.IGNORECASE,
)
_SUBJECT = re.compile(r"\s+(?:of|for|in|on|at|with|by|from|when|that|which|used|reported|achieved)\s+", re.IGNORECASE)
_COUNTING = frozenset("number amount count percentage percent fraction proportion share".split())
# "how many/much <noun phrase>? <auxiliary>": a quantity whatever the noun ("By how much does X improve").
_HOW = re.compile(
    rf"(?:^|,|;|\band\b)\s*(?:(?:by|for|to|in|on)\s+)?how\s+(?:many|much)\b"
    rf"(?:\s+(?!{_AUX}\b)(?P<np>[^?,]{{1,60}}?))?(?=\s+{_AUX}\b|[?,]|$)",
    re.IGNORECASE,
)

# A number that is a value, not part of a name: 75%, 8, 1.5x, 199; not ResNet-50, top-1, WMT'14, A100.
_NUMBER = re.compile(r"(?<![\w'’\-.])(?:\d+(?:[.,]\d+)*|\.\d+)(?:\s?(?:%|x|×))?(?![\w\-]*[A-Za-z]{2})")
_NUMBER_WORDS = re.compile(
    r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|"
    r"hundred|hundreds|thousand|thousands|million|millions|billion|billions|twice|half|double|triple|dozens?)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Focus:
    """The quantity a question asks for: its words as typed and their content terms."""

    phrase: str  # e.g. "dropout rate", "GPUs" ("" for "By how much does X improve ...")
    terms: frozenset[str]
    count: bool = False  # "how many ...": a number word ("two networks") gives a value too

    def describe(self) -> str:
        return self.phrase or "the amount asked about"


def has_number(text: str, words: bool = True) -> bool:
    """A value in `text`: digits, or (with `words`) a number word such as "two"."""
    return bool(_NUMBER.search(text) or (words and _NUMBER_WORDS.search(text)))


def asked_quantities(question: str) -> list[Focus]:
    """The quantities `question` asks for (empty when it asks for something else)."""
    if is_lookup(question):  # "Which paper limits how much ..." asks for a paper
        return []
    found: list[Focus] = []
    for how in _HOW.finditer(question):
        phrase = (how.group("np") or "").strip()
        found.append(
            Focus(phrase, content_terms(phrase) if phrase else frozenset(), count="many" in how.group(0).lower())
        )
    m = _WHAT.match(question)
    if m and _measures(m.group("np")):
        phrase = m.group("np").strip()
        found.append(Focus(phrase, content_terms(phrase)))
    elif (m := _WHAT_IS.match(question)) and _measures(m.group("np")):
        parts = _SUBJECT.split(m.group("np").strip(), maxsplit=2)
        phrase = parts[0] if parts[0].lower() not in _COUNTING or len(parts) < 2 else f"{parts[0]} of {parts[1]}"
        found.append(Focus(phrase, content_terms(phrase)))
    return found


def _measures(phrase: str) -> bool:
    """The noun phrase (up to its first "of/in/on/for/at") ends in a measure noun."""
    words = [w.lower() for w in re.findall(r"[\w\-]+", re.split(r"\b(?:of|in|on|for|at)\b", phrase)[0])]
    # Coordinated measures ("learning rate and batch size") count when any part ends in one.
    heads = {part.split()[-1] for part in re.split(r"\band\b|\bor\b|,", " ".join(words)) if part.split()}
    return bool(heads & MEASURES)


def states(focus: Focus, sentence: str) -> bool:
    """Whether `sentence` gives a value for `focus`: a number, and (when the focus
    has words) at least one of them."""
    if not has_number(sentence, words=focus.count):
        return False
    return not focus.terms or any(_same(t, u) for t in focus.terms for u in content_terms(sentence))


def _same(a: str, b: str) -> bool:
    # Folded terms match when one starts the other: gpus/gpu, epoch/epochs, mask/masking.
    return a == b or (min(len(a), len(b)) >= 3 and (a.startswith(b) or b.startswith(a)))
