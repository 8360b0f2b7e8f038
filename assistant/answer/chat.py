"""Follow-up questions. With an LLM, the condense prompt rewrites a follow-up
into a standalone question. Without one, references are resolved against the
previous answer's sources: "the second one" is its second paper, "it" / "this
method" its first; "compare it to the second one" compares those two papers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from assistant.answer.asked import is_lookup
from assistant.index import PaperIndex
from assistant.records import Answer, Paper

ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
            "fifth": 5, "5th": 5, "last": -1, "latter": -1, "former": 1}
_NOUN = r"(?:one|ones|paper|method|approach|work|source|result|option|model|study|article)"
# "the second one", "the latter", "second paper", "paper 2", "[2]" - but not "second order".
_ORDINAL = re.compile(
    r"\bthe\s+(" + "|".join(ORDINALS) + r")\b(?!-)(?!\s+(?!" + _NOUN + r"\b)[a-z]+\s+" + _NOUN + r"\b)"
    r"|\b(" + "|".join(ORDINALS) + r")\s+" + _NOUN + r"\b"
    r"|\b(?:paper|source|number|no\.?)\s*#?\s*(\d)\b|\[(\d)\]", re.IGNORECASE)
_THING = r"(?:paper|method|approach|work|model|authors?|technique|algorithm|idea|study|result|results|one|ones)"
# "it", "its", "this method", "the paper", "what about this?" - not the "that" of "papers show that ...".
_PRONOUN = re.compile(
    r"\b(?:it|its|they|them|their)\b|\b(?:this|that|these|those|the)\s+" + _THING + r"\b"
    r"|\b(?:this|that)\s*[?.!]*\s*$", re.IGNORECASE)
_COMPARE = re.compile(r"\b(compare|comparison|differ|difference|versus|vs\.?|better than|worse than)\b", re.I)


@dataclass
class Resolved:
    question: str  # standalone question
    papers: list[Paper]  # the papers the follow-up refers to (empty: a new question)
    compare: bool = False  # "compare it to the second one": compare `papers`


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
    by_title = {p.title.lower(): p for p in index.papers}
    found = [by_title.get(t.strip().lower()) for t in re.findall(r"\*\*(.+?)\*\*", text)]
    return list({p.id: p for p in found if p is not None}.values())


def resolve(message: str, previous: list[Paper]) -> Resolved:
    if not previous:
        return Resolved(message, [])
    picked: list[Paper] = []
    for m in _ORDINAL.finditer(message):
        word, digit, bracket = m.group(1) or m.group(2), m.group(3), m.group(4)
        n = ORDINALS[word.lower()] if word else int(digit or bracket)
        idx = len(previous) - 1 if n == -1 else n - 1
        if 0 <= idx < len(previous) and all(previous[idx].id != p.id for p in picked):
            picked.append(previous[idx])
    pronoun = None if is_lookup(message) else _PRONOUN.search(message)  # "Which papers ...?" starts anew
    if pronoun and all(previous[0].id != p.id for p in picked) and (not picked or _COMPARE.search(message)):
        picked.insert(0, previous[0])
    if not picked:
        return Resolved(message, [])
    titles = "; ".join(f'"{p.title}"' for p in picked)
    wants_compare = bool(_COMPARE.search(message)) and len(picked) >= 2
    return Resolved(f"{message} (about {titles})", picked, wants_compare)


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


def previous_papers(history: Iterable[Any], index: PaperIndex) -> list[Paper]:
    """Referents of the last assistant turn."""
    history = list(history or [])
    for item in reversed(history):
        if isinstance(item, Answer):
            return referents(item)
    for role, text in reversed(normalize_history(history)):
        if role == "assistant":
            return papers_named_in(text, index)
    return []
