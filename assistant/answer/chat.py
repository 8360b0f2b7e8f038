"""Follow-up questions. With an LLM, the condense prompt rewrites a follow-up
into a standalone question. Without one, references are resolved against the
papers of the conversation's earlier answers (`Turn`s, oldest first):

- "it", "its", "this method", "the paper" is the first paper of the most recent
  answer that *answered* (cited papers);
- an ordinal ("the second one", "the latter", "paper 2", "[2]") counts in the most
  recent answer that answered with a list to count in: at least two papers and
  every position the message names. So after "What does the second one predict?"
  (answered from that one paper), "and the first one?" is the first paper of the
  list the second one came from. Only when no list has the positions do one-paper
  answers count ("the first one": the most recent one). All ordinals of one message
  count in one answer;
- "compare it to the first one": "it" as above; the ordinals count in the most
  recent such answer whose papers at those positions are not "it" (so "it" may come
  from the last answer and "the first one" from an earlier one); when no answer has
  them apart, as in the most recent answer that has the positions;
- an abstention's "closest papers" answered nothing, so ordinals and pronouns skip
  them (unless no answer of the conversation answered: then they are the only papers
  it showed, and ordinals and pronouns count in the most recent abstention's list).
  The user names them explicitly: "the closest one" / "the closest paper" is the
  first paper the most recent abstention listed, "the second closest paper" / "the
  second of those closest papers" its second, "those closest papers" all it listed.
  Other references in the same message resolve as above ("how does it compare to
  the closest one?").

Text-only histories (a chat UI's message list) get the same memory: an assistant
message's papers are the titles it prints in bold, and it answered when it carries
citation markers [n].

The answer is then scored on what the follow-up asks about (`Resolved.asked`): the
message without its reference phrases, since "the second one" or "it" names a paper,
not content to match (and without the background sentences about other work, see
`evidence.gather`); "and the second one?", which asks nothing else, asks about the
paper itself: its title. Quantity detection and abstention read the same words."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistant.answer.asked import is_lookup
from assistant.answer.text import MARKER, content_terms, marker_numbers, markers
from assistant.index import PaperIndex
from assistant.records import Answer, Paper

if TYPE_CHECKING:
    from assistant.llm import ChatLLM, Ledger
    from assistant.settings import Settings

ORDINALS = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
    "fifth": 5,
    "5th": 5,
    "last": -1,
    "latter": -1,
    "former": 1,
}
_ORD = "|".join(ORDINALS)
_NOUN = r"(?:one|ones|paper|method|approach|work|source|result|option|model|study|article)"
# "the second one", "the latter", "second paper", "paper 2", "[2]" - but not "second order".
_ORDINAL = re.compile(
    r"\bthe\s+(" + _ORD + r")\b(?!-)(?!\s+(?!" + _NOUN + r"\b)[a-z]+\s+" + _NOUN + r"\b)"
    r"|\b(" + _ORD + r")\s+" + _NOUN + r"\b"
    r"|\b(?:paper|source|number|no\.?)\s*#?\s*(\d)\b|" + MARKER,
    re.IGNORECASE,
)
_NOUN_AFTER = re.compile(r"\s+" + _NOUN + r"\b", re.IGNORECASE)
_THING = r"(?:paper|method|approach|work|model|authors?|technique|algorithm|idea|study|result|results|one|ones)"
# "it", "its", "this method", "the paper", "what about this?" - not the "that" of "papers show that ...".
_PRONOUN = re.compile(
    r"\b(?:it|its|they|them|their)\b|\b(?:this|that|these|those|the)\s+" + _THING + r"\b"
    r"|\b(?:this|that)\s*[?.!]*\s*$",
    re.IGNORECASE,
)
# An abstention's closest papers, named explicitly: "the closest one", "the second closest paper",
# "the second of those closest papers", "those closest papers" - not "the closest paper to X".
_CLOSEST = re.compile(
    r"\bthe\s+(?P<of>" + _ORD + r")\s+of\s+(?:the|those|these)\s+closest(?:\s+(?:papers|" + _NOUN + r"))?\b"
    r"|\b(?:the|those|these)\s+(?:(?P<ord>" + _ORD + r")[\s-]+)?closest\s+(?P<noun>papers|" + _NOUN + r")\b(?!\s+to\b)",
    re.IGNORECASE,
)
_COMPARE = re.compile(r"\b(compare|comparison|differ|difference|versus|vs\.?|better than|worse than)\b", re.I)


@dataclass
class Turn:
    """An earlier answer as follow-ups refer to it."""

    papers: list[Paper]  # in the order a reader met them (`referents`)
    answered: bool  # False: an abstention, whose papers are only the "closest papers" it listed


@dataclass
class Resolved:
    question: str  # standalone question
    papers: list[Paper]  # the papers the follow-up refers to (empty: a new question)
    compare: bool = False  # "compare it to the second one": compare `papers`
    asked: str = ""  # the words to score sentences on: the message without its references

    def __post_init__(self) -> None:
        self.asked = self.asked or self.question


def referents(answer: Answer) -> list[Paper]:
    """The previous answer's papers in the order a reader met them: cited ones
    first (in order of first citation), then the other sources."""
    by_n = {s.n: s.paper for s in answer.sources}
    order = list(dict.fromkeys(c.n for c in answer.citations if c.n in by_n))
    order += [s.n for s in answer.sources if s.n not in order]
    return [by_n[n] for n in order]


def papers_named_in(text: str, index: PaperIndex) -> list[Paper]:
    """Papers whose titles appear in bold in an answer text (how answers print them),
    for histories that carry text only (e.g. a chat UI's message list)."""
    found = [index.paper_titled(t) for t in re.findall(r"\*\*(.+?)\*\*", text)]
    return list({p.id: p for p in found if p is not None}.values())


def _ordinal(word: str | None, digit: str | None) -> int:
    return ORDINALS[word.lower()] if word else (marker_numbers(digit)[0] if digit else 0)


def _at(papers: Sequence[Paper], n: int) -> Paper | None:
    """The n-th paper (1-based; -1: the last), or None when there is none."""
    idx = len(papers) - 1 if n == -1 else n - 1
    return papers[idx] if 0 <= idx < len(papers) else None


def _blank(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """`text` with the spans replaced by spaces (offsets of the rest unchanged)."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def resolve(message: str, previous: Sequence[Turn] | Sequence[Paper]) -> Resolved:
    """Resolve the references of `message` against the conversation (see the module
    docstring for the rules). `previous`: its Turns, oldest first, or the papers of
    one answer that answered."""
    turns = [t for t in previous if isinstance(t, Turn)] or [Turn([p for p in previous if isinstance(p, Paper)], True)]
    closest = next((t.papers for t in reversed(turns) if not t.answered and t.papers), [])
    # Most recent first; when no answer answered, the closest papers are all the conversation showed.
    answered = [t.papers for t in reversed(turns) if t.answered and t.papers] or ([closest] if closest else [])
    picked: list[Paper] = []
    used: list[tuple[int, int]] = []  # spans of the references that resolved (not content to match)

    def pick(paper: Paper | None, span: tuple[int, int]) -> None:
        if paper is not None:
            used.append(span)
            if all(paper.id != p.id for p in picked):
                picked.append(paper)

    for m in _CLOSEST.finditer(message):
        if not closest:
            continue
        if m.group("of") or m.group("ord"):
            pick(_at(closest, ORDINALS[(m.group("of") or m.group("ord")).lower()]), m.span())
        elif m.group("noun").lower() in ("ones", "papers"):  # "those closest papers": all of them
            for p in closest:
                pick(p, m.span())
        else:
            pick(closest[0], m.span())
    rest = _blank(message, (m.span() for m in _CLOSEST.finditer(message)))

    pronouns = [] if is_lookup(message) or not answered else list(_PRONOUN.finditer(rest))  # "Which papers ...?"
    it = answered[0][0] if pronouns else None
    compare = bool(_COMPARE.search(message))
    ordinals = [
        (m, _ordinal(m.group(1) or m.group(2), m.group(3) or m.group(4)))
        for m in _ORDINAL.finditer(rest)
        if not m.group(4) or re.fullmatch(r"[1-9]", m.group(4))  # "[2]" names a paper; "[12]", "[2, 3]" do not
    ]
    # Lists first (most recent first), then one-paper answers (as a text-only history of them shows).
    lists = sorted(
        (papers for papers in answered if all(_at(papers, n) for _, n in ordinals)), key=lambda papers: len(papers) < 2
    )
    if ordinals and lists:
        # "compare it to the first one": the most recent list whose papers there are not "it".
        apart = [
            papers
            for papers in lists
            if not (compare and it) or all((nth := _at(papers, n)) is None or nth.id != it.id for _, n in ordinals)
        ]
        for m, n in ordinals:
            noun = _NOUN_AFTER.match(rest, m.end())  # "the second" + " one"
            pick(_at((apart or lists)[0], n), (m.start(), noun.end() if noun else m.end()))
    if it is not None and (not picked or compare):
        used.extend(_pronoun_span(m) for m in pronouns)
        if all(it.id != p.id for p in picked):
            picked.insert(0, it)
    if not picked:
        return Resolved(message, [])
    titles = "; ".join(f'"{p.title}"' for p in picked)
    asked = " ".join(_blank(message, used).split())
    if not content_terms(asked):  # "and the second one?": the user asks about the papers themselves
        asked = "; ".join(p.title for p in picked)
    return Resolved(f"{message} (about {titles})", picked, compare and len(picked) >= 2, asked)


def _pronoun_span(m: re.Match) -> tuple[int, int]:
    """The words of a pronoun match that only point at the paper: all of "it" or "this
    method", but the determiner alone of "the results" (what the user asks about)."""
    words = m.group(0).split()
    if len(words) == 2 and words[1].lower() in ("result", "results"):
        return m.start(), m.start() + len(words[0])
    return m.span()


def history_text(history: Iterable[Any], limit: int = 6, chars: int = 600) -> str:
    """The conversation as 'User: ...' / 'Assistant: ...' lines for the condense prompt."""
    lines = []
    for role, content in normalize_history(history)[-limit:]:
        content = " ".join(content.split())
        lines.append(f"{'User' if role == 'user' else 'Assistant'}: {content[:chars]}")
    return "\n".join(lines)


def normalize_history(history: Iterable[Any]) -> list[tuple[str, str]]:
    """Accepts Answers, {"role", "content"} dicts (OpenAI/Gradio messages) or
    (user, assistant) pairs; returns (role, text) turns."""
    turns: list[tuple[str, str]] = []
    for item in history or []:
        if isinstance(item, Answer):
            turns += [("user", item.question), ("assistant", item.text)]
        elif isinstance(item, dict) and "role" in item:
            content = item.get("content")
            if isinstance(content, list):  # Gradio may hold a list of parts
                content = " ".join(str(c.get("text", "")) if isinstance(c, dict) else str(c) for c in content)
            turns.append(("user" if item["role"] == "user" else "assistant", str(content or "")))
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            turns += [("user", str(item[0] or "")), ("assistant", str(item[1] or ""))]
    return turns


def conversation(history: Iterable[Any], index: PaperIndex) -> list[Turn]:
    """The earlier answers of `history` (as `normalize_history` accepts it), oldest
    first. An Answer answered when it has citations; a text-only assistant message
    when it carries citation markers [n], its papers being the titles it prints in bold
    (as for an abstention: the closest papers it listed)."""
    turns: list[Turn] = []
    for item in history or []:
        if isinstance(item, Answer):  # an abstention's papers: those it listed, in its order
            answered = bool(item.citations)
            turns.append(
                Turn(referents(item) if answered else papers_named_in(item.text, index) or referents(item), answered)
            )
            continue
        for role, text in normalize_history([item]):
            if role == "assistant":
                turns.append(Turn(papers_named_in(text, index), bool(markers(text))))
    return turns


CONDENSE_MAX_TOKENS = 120  # a standalone question is one line; a longer rewrite is refused anyway


def condense(
    llm: ChatLLM, settings: Settings, history: list, message: str, ledger: Ledger, notices: list[str]
) -> str | None:
    """The follow-up `message` rewritten by the model as a standalone question, or None
    when the call fails or the rewrite is refused by `accept.condensed` (a notice in
    `notices` says which; the caller then resolves it against the earlier answers).
    The call is recorded in `ledger`."""
    from assistant.answer import accept
    from assistant.errors import LLMError
    from assistant.llm.prompts import render

    text = history_text(history)
    messages = render("condense", settings, history=text, question=message)
    try:
        completion = llm.complete(messages, max_tokens=CONDENSE_MAX_TOKENS)
    except LLMError as exc:
        ledger.failure("condense", exc, messages)
        notices.append(
            f"The model could not rewrite the follow-up ({exc}); it was resolved against the earlier answers instead."
        )
        return None
    ledger.record("condense", completion)
    standalone, why = accept.condensed(completion.text, message, text, messages)
    if why:
        notices.append(
            f"The model's rewrite of the follow-up was not used: {why}; "
            f"it was resolved against the earlier answers instead."
        )
    return standalone
