"""What model calls cost: `Usage` (tokens of one call), `Completion` (one reply), `Ledger`
(every call of one answer: steps, tokens, seconds, failures, price) and `describe_usage`."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

from assistant.errors import LLMError
from assistant.llm.tokens import estimate_prompt_tokens

# --- results and errors -------------------------------------------------------------------


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False  # True when the server reported none and we counted with tiktoken

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.estimated = self.estimated or other.estimated

    def to_dict(self) -> dict:
        return {**asdict(self), "total_tokens": self.total_tokens}


@dataclass
class Completion:
    text: str
    usage: Usage
    attempts: int
    seconds: float
    model: str
    finish_reason: str | None = None  # "stop", "length" (cut by max_tokens), ... when the server says
    cut: bool = False  # the reply may be incomplete: finish_reason "length", or a stream without one
    cut_reason: str = ""  # why, in words ("" when not cut)


class Ledger:
    """Every model call made for one answer (condense, evidence, quotes, answer, judge,
    compare): tokens (server-reported, or `estimated` with tiktoken when the server reports
    none), attempts and failed attempts, seconds, and the cost when prices are set
    (`llm_price_in` / `llm_price_out`, per million tokens). Thread-safe."""

    def __init__(self, settings=None, model: str = ""):
        self.model = model
        self.price_in = getattr(settings, "llm_price_in", None)
        self.price_out = getattr(settings, "llm_price_out", None)
        self.calls: list[dict] = []
        self._lock = threading.Lock()

    def record(self, step: str, completion: Completion) -> None:
        """A call that returned (its retries counted as failed attempts)."""
        u = completion.usage
        self._add(
            {
                "step": step,
                "ok": True,
                "prompt_tokens": u.prompt_tokens,
                "completion_tokens": u.completion_tokens,
                "estimated": u.estimated,
                "attempts": completion.attempts,
                "failed_attempts": max(completion.attempts - 1, 0),
                "seconds": round(completion.seconds, 3),
                "finish_reason": completion.finish_reason,
            }
        )
        if completion.model and not self.model:
            self.model = completion.model

    def failure(self, step: str, error: LLMError, messages: list[dict] | None = None) -> None:
        """A call that failed for good: every attempt failed. The prompt tokens are an
        estimate of what was sent once (a server that failed reports none)."""
        prompt = estimate_prompt_tokens(messages) if messages else 0
        self._add(
            {
                "step": step,
                "ok": False,
                "prompt_tokens": prompt,
                "completion_tokens": 0,
                "estimated": True,
                "attempts": error.attempts,
                "failed_attempts": error.attempts,
                "seconds": round(error.seconds, 3),
                "error": str(error)[:800],
            }
        )

    def _add(self, call: dict) -> None:
        with self._lock:
            self.calls.append(call)

    def absorb(self, usage: dict | None, prefix: str = "") -> None:
        """Add the calls of another answer's `usage` (a `to_dict()`), their steps prefixed."""
        if not usage:
            return
        if usage.get("model") and not self.model:
            self.model = usage["model"]
        for call in usage.get("calls") or []:
            if isinstance(call, dict):
                self._add(
                    {
                        "ok": True,
                        "prompt_tokens": 0,
                        "completion_tokens": 0,
                        "estimated": False,
                        "attempts": 1,
                        "failed_attempts": 0,
                        "seconds": 0.0,
                        **call,
                        "step": prefix + str(call.get("step") or "call"),
                    }
                )

    def cost(self) -> float | None:
        if self.price_in is None or self.price_out is None:
            return None
        p = sum(c["prompt_tokens"] for c in self.calls)
        c = sum(c["completion_tokens"] for c in self.calls)
        return (p * self.price_in + c * self.price_out) / 1e6

    def to_dict(self) -> dict:
        """{} when no call was made; else totals over the calls, and the calls."""
        with self._lock:
            calls = [dict(c) for c in self.calls]
        if not calls:
            return {}
        total = {
            k: sum(c[k] for c in calls) for k in ("prompt_tokens", "completion_tokens", "attempts", "failed_attempts")
        }
        cost = self.cost()
        return {
            "model": self.model,
            "calls": calls,
            "n_calls": len(calls),
            **total,
            "total_tokens": total["prompt_tokens"] + total["completion_tokens"],
            "estimated": any(c["estimated"] for c in calls),
            "seconds": round(sum(c["seconds"] for c in calls), 3),
            "cost": None if cost is None else round(cost, 6),
        }


def describe_usage(usage: dict | None) -> str:
    """An answer's usage (`Ledger.to_dict()`) in words, for the CLI and the UI:
    "2 model calls to m, ≈1,550 tokens (1,300 in + 250 out, estimated), 2 failed attempts,
    cost 0.0046" ("" when no model was called). Failed attempts and the cost appear only
    when there are any (the cost when llm_price_in / llm_price_out are set)."""
    if not usage:
        return ""
    calls = usage.get("n_calls", len(usage.get("calls") or []))
    prompt, completion = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
    if not calls and not (prompt or completion):
        return ""
    model = usage.get("model")
    parts = [f"{calls} model call{'s' if calls != 1 else ''}" + (f" to {model}" if model else "")] if calls else []
    estimated = bool(usage.get("estimated"))
    parts.append(
        f"{'≈' if estimated else ''}{prompt + completion:,} tokens ({prompt:,} in + {completion:,} out"
        f"{', estimated' if estimated else ''})"
    )
    failed = usage.get("failed_attempts") or 0
    if failed > 0:
        parts.append(f"{failed} failed attempt{'s' if failed != 1 else ''}")
    cost = usage.get("cost")
    if isinstance(cost, (int, float)):  # in the currency of llm_price_in / llm_price_out
        shown = f"{cost:,.4f}" if cost >= 0.01 else f"{cost:.6f}".rstrip("0").rstrip(".")
        parts.append(f"cost {shown if shown != '0' or cost == 0 else f'{cost:.1e}'}")
    return ", ".join(parts)
