"""Token counting, offline: tiktoken's cl100k_base through LlamaIndex's tokenizer (whose
package ships the encoding), and the prompt budget every prompt builder uses."""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("assistant.llm")

# --- tokens --------------------------------------------------------------------------------

_tokenizer: Callable[[str], list] | None = None
_tokenizer_lock = threading.Lock()
_tokenizer_failed = False


def _cl100k() -> Callable[[str], list]:
    """cl100k_base's `encode_ordinary` (special-token text counted as the plain text it is),
    from LlamaIndex's tokenizer; ValueError when LlamaIndex's global tokenizer is another one."""
    from llama_index.core.utils import get_tokenizer

    encode = get_tokenizer()  # functools.partial(Encoding.encode, allowed_special="all")
    encoding = getattr(getattr(encode, "func", None), "__self__", None)
    if getattr(encoding, "name", None) != "cl100k_base":
        raise ValueError(f"LlamaIndex's global tokenizer is not tiktoken's cl100k_base ({encode!r})")
    return encoding.encode_ordinary  # type: ignore[union-attr]  # the name check above found an Encoding


def _get_tokenizer() -> Callable[[str], list] | None:
    """tiktoken's cl100k_base, read offline from the cache LlamaIndex ships; None when it
    cannot be had, and counts become an estimate."""
    global _tokenizer, _tokenizer_failed
    if _tokenizer is not None or _tokenizer_failed:
        return _tokenizer
    with _tokenizer_lock:
        if _tokenizer is None and not _tokenizer_failed:
            try:
                try:
                    _tokenizer = _cl100k()
                except Exception:
                    if "TIKTOKEN_CACHE_DIR" not in os.environ:
                        raise
                    # A cache folder of the user's that lacks cl100k: LlamaIndex's shipped one.
                    saved = os.environ.pop("TIKTOKEN_CACHE_DIR")
                    try:
                        _tokenizer = _cl100k()
                    finally:
                        os.environ["TIKTOKEN_CACHE_DIR"] = saved
            except Exception as exc:  # never fatal: counts become a 4-characters-per-token estimate
                _tokenizer_failed = True
                log.warning("tiktoken cl100k_base unavailable offline (%s); estimating 4 characters per token", exc)
    return _tokenizer


def count_tokens(text: str) -> int:
    """Tokens of `text` in tiktoken's cl100k_base (LlamaIndex's tokenizer; special-token text
    counts as plain text; about 4 characters per token when tiktoken cannot be loaded)."""
    if not text:
        return 0
    tokenizer = _get_tokenizer()
    if tokenizer is None:
        return math.ceil(len(text) / 4)
    return len(tokenizer(text))


WINDOW_SHARE = 0.9  # of a context window, what prompts may fill: other tokenizers count unlike cl100k


def room_in_window(window: int, frame: list[dict], reply_tokens: int) -> int:
    """Tokens left in `window` for the variable part of a prompt whose other messages are
    `frame` (the prompt rendered with that part empty), with `reply_tokens` kept for the
    reply and a tenth of the window kept free (other models' tokenizers count differently
    from tiktoken's cl100k), less a small margin for the chat format's own tokens."""
    return int(window * WINDOW_SHARE) - reply_tokens - sum(count_tokens(m["content"]) for m in frame) - 32


def fit_to_budget(texts: list[str], budget: int) -> int:
    """How many of `texts`, taken in order, fit together in `budget` tokens."""
    used = 0
    for n, text in enumerate(texts):
        used += count_tokens(text)
        if used > budget:
            return n
    return len(texts)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def estimate_prompt_tokens(messages: list[dict]) -> int:
    """OpenAI's chat accounting: 3 tokens per message + its content (+1 for a name) + 3 to prime the reply."""
    total = 3
    for m in messages:
        total += 3 + count_tokens(_content_text(m.get("content"))) + (1 if m.get("name") else 0)
    return total
