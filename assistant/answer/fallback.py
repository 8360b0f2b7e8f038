"""The one way a model's output is set aside: when the model failed or its answer or table
was rejected by the checks (`accept`), the extractive result is shown in its place, marked
with the backend FALLBACK, its `fallback` reason, and a notice that says why and which
model it was. Answers (`engine`) and comparison tables (`compare`) both go through `mark`;
front ends and the eval read `result.fallback`, never the backend's wording."""

from __future__ import annotations

from typing import Any, Protocol

BACKEND = "extractive (LLM fallback)"


class _Shown(Protocol):
    backend: str
    fallback: str | None
    notices: list[str]


def reason_of(exc: Exception) -> str:
    """A failure as the notice words it: the endpoint's error, or the check that rejected the reply."""
    from assistant.errors import LLMError

    return f"the model failed ({exc})" if isinstance(exc, LLMError) else str(exc)


def mark(result: Any, reason: str, llm: Any, what: str = "answer") -> Any:
    """`result` (the extractive Answer or Comparison) as the fallback for the model's `what`."""
    shown: _Shown = result
    shown.backend = BACKEND
    shown.fallback = reason
    kind = "table" if what == "table" else "answer"
    shown.notices.append(
        f"The model's {what} is not shown: {reason}. This is the extractive {kind} ({llm.model} at {llm.base_url})."
    )
    return result
