"""The one acceptance rule for text a model writes: what of it may reach the user.

A model is an adversary here: a small base model (the Gemma 3 270M the tests run
under llama.cpp) repeats its prompt, invents `<source n="7">` blocks, leaves
chat-template tokens in its reply and stops mid-sentence at the token cap. So a
model's answer is shown only when it passes every check below; otherwise the
caller shows the extractive answer with a notice that names the reason.

`abstains(raw)`
    The reply *is* the abstain sentinel: its whole text or its first line (markdown
    and punctuation around it ignored). The phrase inside echoed prompt text
    ("...reply with exactly: INSUFFICIENT_EVIDENCE") is not an abstention.
`answer(...)`
    1. chat-template tokens: a trailing end-of-turn token (`<end_of_turn>`, `</s>`,
       `<|im_end|>`, ...) is dropped, since servers leave it when the template does not
       match; any other (`[/INST]`, `<<SYS>>`, `<start_of_turn>`, `### system`...) rejects;
    2. echo: a `<source>` tag, a prompt heading ("Question:", "Sources:"), or any
       line of 40+ characters copied from the prompt's instructions rejects;
    3. cut off (finish reason "length", or a stream that ended without a finish
       reason): the unfinished last sentence is dropped and the rest is checked; a
       notice says the reply was cut off and why;
    4. markers: a marker that names no source rejects (an invented source is a
       hallucination, not a typo); every sentence must carry a marker;
    5. support: each sentence needs at least one marker whose source has a sentence
       supporting it (`citations.support` score >= `citations.WEAK_SUPPORT`).
       Tolerance: further markers of the same sentence may be weaker (a sentence may
       join two papers and lean on one), and are named in a notice. Zero tolerance for
       uncited sentences and invalid markers: a researcher cannot tell which uncited
       sentence is invented.
`condensed(...)`
    A follow-up rewritten by the model is used only when it is one line of at most
    `CONDENSED_MAX_CHARS`, carries no template token, does not echo the prompt, and
    shares a content word with the conversation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant.answer import citations as cites
from assistant.answer.text import MARKER, content_terms
from assistant.records import Citation, CitationChecks, Source

ABSTAIN_PHRASE = "INSUFFICIENT_EVIDENCE"

# Tokens of chat templates (Llama 2, ChatML, Gemma, Llama 3, Mistral, Phi) and of our prompt files.
TEMPLATE_TOKEN = re.compile(
    r"\[/?INST\]|<</?SYS>>|</?s>|<\|[a-z_]+(?:\|>)?|<(?:start|end)_of_turn>|<bos>|<eos>|<pad>"
    r"|^\s*#{2,}\s*(?:system|user|assistant)\b|<\|?(?:system|user|assistant)\|?>",
    re.IGNORECASE | re.MULTILINE,
)
_TRAILING_END = re.compile(
    r"(?:\s*(?:<end_of_turn>|</s>|<eos>|<\|im_end\|>|<\|eot_id\|>|<\|end\|>|"
    r"<\|endoftext\|>))+\s*$",
    re.IGNORECASE,
)
# A source block or a heading of the answer/quotes prompt, as a model repeats it.
_ECHO_MARK = re.compile(
    r"</?\s*source\b|^\s*(?:Question|Sources|Title|Abstract|Authors|Quotes)\s*:", re.IGNORECASE | re.MULTILINE
)
ECHO_LINE_CHARS = 40  # a prompt line this long, found in a reply, is an echo (not a coincidence)
CONDENSED_MAX_CHARS = 400
_CONDENSE_ECHO = re.compile(
    r"\b(?:follow-up message|standalone question|conversation so far)\b|^\s*(?:user|assistant)\s*:",
    re.IGNORECASE | re.MULTILINE,
)
# Markdown links and images, autolinks and HTML tags: an answer from abstracts has none, and in the
# UI they would render (an image fetches its URL when shown).
MARKUP = re.compile(r"!?\[[^\]]*\]\([^)]*\)|<(?:https?:|/?[a-z][a-z0-9]*\b[^>]*>)", re.IGNORECASE)
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # e.g. a terminal escape; \t \n \r are fine
_SENTENCE_END = re.compile(r"[.!?](?:\s*" + MARKER + r")*[\"')\]]*(?=\s|$)")


def _bare(line: str) -> str:
    return re.sub(r"[\s*_`\"'.:!]+", "", line).upper()


def abstains(raw: str) -> bool:
    """The reply is the abstain sentinel (whole text or first line), not an echo containing it."""
    text = strip_trailing_end(raw).strip()
    if not text:
        return False
    return _bare(text) == _bare(ABSTAIN_PHRASE) or _bare(text.splitlines()[0]) == _bare(ABSTAIN_PHRASE)


def strip_trailing_end(text: str) -> str:
    return _TRAILING_END.sub("", text or "")


def template_token(text: str) -> str | None:
    """The first chat-template token in `text` (after a trailing end-of-turn is dropped), or None."""
    m = TEMPLATE_TOKEN.search(strip_trailing_end(text))
    return m.group(0).strip() if m else None


def echo(text: str, prompt: list[dict] | None) -> str | None:
    """What in `text` repeats the prompt (a source tag, a prompt heading, or a long
    instruction line), or None."""
    m = _ECHO_MARK.search(text)
    if m:
        return m.group(0).strip()
    squashed = " ".join(text.split()).lower()
    for message in prompt or []:
        if message.get("role") != "system":
            continue  # the user message holds the sources, which an answer may quote
        for line in str(message.get("content", "")).splitlines():
            line = " ".join(line.split()).lower().lstrip("-* ")
            if len(line) >= ECHO_LINE_CHARS and line[:ECHO_LINE_CHARS] in squashed:
                return line[:60] + ("..." if len(line) > 60 else "")
    return None


def complete_part(text: str) -> str:
    """`text` up to the end of its last complete sentence (with its markers), or ""."""
    ends = list(_SENTENCE_END.finditer(text))
    return text[: ends[-1].end()].rstrip() if ends else ""


@dataclass
class Verdict:
    """What the acceptance rule made of a reply. `ok`: show `text` with `citations`;
    else `reason` says why not (for the fallback notice)."""

    ok: bool
    text: str = ""
    reason: str | None = None
    abstained: bool = False
    citations: list[Citation] = field(default_factory=list)
    checks: CitationChecks = field(default_factory=CitationChecks)
    notices: list[str] = field(default_factory=list)


def answer(raw: str, used: list[Source], vectors, prompt: list[dict] | None = None, cut: str | None = None) -> Verdict:
    """Check a model's answer (see the module docstring). `used`: the sources the
    prompt numbered; `vectors`: the engine's SentenceVectors for the support check;
    `cut`: why the reply is incomplete (token limit, stream without a finish reason)
    or None."""
    text = strip_trailing_end(raw or "").replace("\r\n", "\n").strip()
    if abstains(text):
        return Verdict(False, abstained=True, reason="the model said the sources do not answer")
    if not text:
        return Verdict(False, reason="the model's reply was empty")
    token = template_token(text)
    if token:
        return Verdict(False, reason=f"the model's reply contains the chat-template token {token!r}")
    echoed = echo(text, prompt)
    if echoed:
        return Verdict(False, reason=f"the model's reply repeats its prompt ({_named(echoed)})")
    if MARKUP.search(text):
        return Verdict(False, reason="the model's reply contains links, images or HTML, which the abstracts do not")
    if CONTROL.search(text):
        return Verdict(False, reason="the model's reply contains control characters")
    notices = []
    if cut:
        text = complete_part(text)
        if not text:
            return Verdict(False, reason=f"the model's reply was cut off ({cut}) before its first sentence ended")
        notices.append(f"The model's reply was cut off ({cut}); it is shown up to its last complete sentence.")
    text, per_sentence, checks = cites.check(text, used)
    if checks.removed_markers:
        return Verdict(
            False,
            reason=f"the model cited sources that do not exist ({', '.join(checks.removed_markers)}; "
            f"the sources were {', '.join(f'[{s.n}]' for s in used)})",
        )
    if checks.uncited_sentences:
        n, total = len(checks.uncited_sentences), len(per_sentence)
        first = next(i for i, marks in enumerate(per_sentence) if not marks) + 1
        return Verdict(
            False, reason=f"{n} of the model's {total} sentences cite no source (the first: sentence {first})"
        )
    if not any(per_sentence):
        return Verdict(False, reason="the model's reply has no sentence to show")
    citations = cites.support(vectors, text, used, per_sentence, checks)
    best: dict[int, float] = {}
    for c in citations:
        if c.sentence is not None:
            best[c.sentence] = max(best.get(c.sentence, 0.0), c.support)
    weak = [i for i, marks in enumerate(per_sentence) if marks and best.get(i, 0.0) < cites.WEAK_SUPPORT]
    if weak:
        return Verdict(
            False,
            reason=f"{len(weak)} of the model's {len(per_sentence)} sentences are not supported by "
            f"the sources they cite (the first: sentence {weak[0] + 1}, support "
            f"{best.get(weak[0], 0.0):.2f} < {cites.WEAK_SUPPORT})",
        )
    if checks.weak_citations:
        notices.append(
            "Weakly supported citation(s), beside a stronger one in the same sentence: "
            + ", ".join(f"[{n}]" for n in checks.weak_citations)
            + "."
        )
    return Verdict(True, text, citations=citations, checks=checks, notices=notices)


def condensed(text: str, message: str, history: str, prompt: list[dict] | None = None) -> tuple[str | None, str | None]:
    """(the standalone question, None) when the model's rewrite of a follow-up passes
    the checks, else (None, why not)."""
    text = strip_trailing_end(text or "").strip().strip('"“”').strip()
    if not text:
        return None, "the model's rewrite was empty"
    if "\n" in text.strip():
        return None, "the model's rewrite is not one line"
    if len(text) > CONDENSED_MAX_CHARS:
        return None, f"the model's rewrite is {len(text)} characters long (at most {CONDENSED_MAX_CHARS})"
    token = template_token(text)
    if token:
        return None, f"the model's rewrite contains the chat-template token {token!r}"
    if _CONDENSE_ECHO.search(text) or echo(text, prompt):
        return None, "the model's rewrite repeats its prompt"
    if abstains(text):
        return None, "the model's rewrite is the abstain sentinel"
    if not content_terms(text) & (content_terms(message) | content_terms(history)):
        return None, "the model's rewrite shares no word with the conversation"
    return " ".join(text.split()), None


def _named(found: str) -> str:
    """What an echo check found, named without repeating model text: a source tag or a
    prompt heading by its own words, a repeated instruction line as such."""
    if re.match(r"</?\s*source", found, re.IGNORECASE):
        return "a <source> block"
    if found.endswith(":") and len(found) < 20:
        return f"the heading {found!r}"
    return "a line of its instructions"
