"""The one adapter to an OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama,
llama.cpp server, LM Studio), built on the real `openai` client and `tenacity`.

* `ChatLLM.complete()` – one non-streaming answer, retried on transient failures.
* `ChatLLM.stream()` – a `TokenStream` yielding text deltas; retried only until the
  first token arrives, so text is never duplicated.
* `ChatLLM.health()` – a quick `/models` check that never raises.
* `count_tokens()` / `fit_to_budget()` – tiktoken cl100k_base, offline.

Transient failures (429, 408, 5xx, timeouts, connection errors, a stream that breaks
before its first token) are retried with jittered exponential waits (a server's
`Retry-After` is honoured when it is no longer than `llm_retry_max`), at most
`llm_max_attempts` times; no retry starts, and no wait begins, that would pass
`llm_max_retry_seconds` since the first attempt (tenacity's `stop_before_delay`, a
stricter form of `stop_after_delay`). A started request may still run up to
`llm_timeout` seconds, so one call lasts at most about
`llm_max_retry_seconds + llm_timeout`.

Everything that goes wrong surfaces as `LLMError`, whose message names the endpoint
(base URL and model) and the cause, and never contains the API key.
"""

from __future__ import annotations

import email.utils
import importlib.util
import logging
import math
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar
from urllib.parse import urlsplit, urlunsplit

from tenacity import (RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_before_delay,
                      wait_random_exponential)

from assistant.lazy import lazy_module

# Imported on first use: a process that answers without an LLM never loads them.
httpx = lazy_module("httpx")
openai = lazy_module("openai")

log = logging.getLogger("assistant.llm")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
HEALTH_TIMEOUT = 5.0  # seconds, at most, for health()

T = TypeVar("T")


# --- results and errors -------------------------------------------------------------------


class LLMError(Exception):
    """The endpoint failed for good (after retries) or refused the request.

    Attributes: `status` (HTTP status when there was one), `attempts`, `seconds`,
    `retryable` (the last failure was of a transient kind), `mid_stream` (a stream
    broke after text had already been yielded; `partial_text` holds that text)."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 0, seconds: float = 0.0,
                 retryable: bool = False, mid_stream: bool = False, partial_text: str = ""):
        super().__init__(message)
        self.status = status
        self.attempts = attempts
        self.seconds = seconds
        self.retryable = retryable
        self.mid_stream = mid_stream
        self.partial_text = partial_text


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False  # True when the server reported none and we counted with tiktoken

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: "Usage") -> None:
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


# --- tokens --------------------------------------------------------------------------------

_encoder: Any = None
_encoder_lock = threading.Lock()
_encoder_failed = False


def _tiktoken_cache_dir() -> Path | None:
    """llama_index/core/_static/tiktoken_cache (found without importing llama_index.core)."""
    try:
        spec = importlib.util.find_spec("llama_index.core")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "_static" / "tiktoken_cache"
    return path if path.is_dir() else None


def _get_encoder() -> Any:
    global _encoder, _encoder_failed
    if _encoder is not None or _encoder_failed:
        return _encoder
    with _encoder_lock:
        if _encoder is None and not _encoder_failed:
            cache = _tiktoken_cache_dir()
            if cache is not None:
                os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(cache))
            try:
                import tiktoken

                try:
                    _encoder = tiktoken.get_encoding("cl100k_base")
                except Exception:
                    # a TIKTOKEN_CACHE_DIR set by the user that lacks the file: use the shipped cache
                    if cache is None or os.environ.get("TIKTOKEN_CACHE_DIR") == str(cache):
                        raise
                    previous, os.environ["TIKTOKEN_CACHE_DIR"] = os.environ["TIKTOKEN_CACHE_DIR"], str(cache)
                    try:
                        _encoder = tiktoken.get_encoding("cl100k_base")
                    finally:
                        os.environ["TIKTOKEN_CACHE_DIR"] = previous
            except Exception as exc:  # never fatal: counts become a 4-characters-per-token estimate
                _encoder_failed = True
                log.warning("tiktoken cl100k_base unavailable offline (%s); estimating 4 characters per token", exc)
    return _encoder


def count_tokens(text: str) -> int:
    """Tokens of `text` in tiktoken's cl100k_base (special-token text counts as plain text)."""
    if not text:
        return 0
    enc = _get_encoder()
    if enc is None:
        return math.ceil(len(text) / 4)
    return len(enc.encode(text, disallowed_special=()))


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


# --- errors: what is transient, how to say it -----------------------------------------------


class _Malformed(Exception):
    """The endpoint answered 200 with something that is not a chat completion."""


def _status(exc: BaseException) -> int | None:
    return exc.status_code if isinstance(exc, openai.APIStatusError) else None


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, (openai.APIConnectionError, httpx.TransportError)):  # includes timeouts
        return True
    status = _status(exc)
    return status is not None and (status in (408, 429) or status >= 500)


def _retry_after(exc: BaseException | None) -> float | None:
    """Seconds asked by `retry-after-ms` / `Retry-After` (seconds or HTTP date), if any."""
    response = getattr(exc, "response", None) if isinstance(exc, openai.APIStatusError) else None
    if response is None:
        return None
    headers = response.headers
    try:
        if headers.get("retry-after-ms") is not None:
            return float(headers["retry-after-ms"]) / 1000
    except ValueError:
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
        return when.timestamp() - time.time()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    message = None
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            message = err.get("message") or err.get("detail")
        elif isinstance(err, str):
            message = err
        message = message or body.get("detail") or body.get("message")
    if not message:
        try:
            message = exc.response.text
        except Exception:
            message = None
    message = " ".join(str(message or "").split())
    return message[:300]


# --- the client --------------------------------------------------------------------------------


def _display_url(url: str | None) -> str:
    """The base URL as shown to people: default filled in, no credentials, no trailing slash."""
    url = (url or DEFAULT_BASE_URL).strip()
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        url = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return url.rstrip("/")


class TokenStream:
    """Iterate for text deltas. After the iteration ends, `.completion` holds the
    `Completion` (usage from the server's final usage chunk, else estimated).
    `.text` is the text yielded so far. Failures raise `LLMError` from the iteration:
    `mid_stream=False` before any text (nothing shown yet; safe to fall back),
    `mid_stream=True` after. Use as a context manager, or call `close()`, to release
    the connection when stopping early."""

    def __init__(self, llm: "ChatLLM", messages: list[dict], max_tokens: int | None):
        self.completion: Completion | None = None
        self.text = ""
        self._gen = llm._stream_events(messages, max_tokens, self)

    def __iter__(self) -> "TokenStream":
        return self

    def __next__(self) -> str:
        return next(self._gen)

    def close(self) -> None:
        self._gen.close()

    def __enter__(self) -> "TokenStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _StreamState:
    def __init__(self) -> None:
        self.usage: Any = None
        self.model: str | None = None
        self.finish_reason: str | None = None
        self.chunks = 0

    def absorb(self, chunk: Any) -> str:
        """Take what a chunk says; return its text delta ("" if none)."""
        self.chunks += 1
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = usage
        model = getattr(chunk, "model", None)
        if isinstance(model, str) and model:
            self.model = model
        choices = getattr(chunk, "choices", None)
        if not choices:
            return ""
        choice = choices[0]
        reason = getattr(choice, "finish_reason", None)
        if reason:
            self.finish_reason = reason
        delta = getattr(choice, "delta", None)
        content = getattr(delta, "content", None) if delta is not None else None
        return content if isinstance(content, str) else ""


class ChatLLM:
    """A chat model behind an OpenAI-compatible endpoint. Thread-safe (one shared
    `openai.OpenAI` client); the client's own retries are off: tenacity retries here."""

    def __init__(self, settings, client: openai.OpenAI | None = None):
        self.settings = settings
        self.model: str = settings.llm_model
        self.base_url: str = _display_url(settings.openai_base_url)
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
        self._key = key  # only to scrub it from error text
        self._client = client or openai.OpenAI(
            api_key=key or "not-needed", base_url=(settings.openai_base_url or DEFAULT_BASE_URL).strip(),
            timeout=settings.llm_timeout, max_retries=0)
        self._stream_usage_option = True     # cleared once a server is seen rejecting stream_options
        self._token_param = "max_tokens"     # becomes max_completion_tokens if the server demands it

    def __repr__(self) -> str:
        return f"ChatLLM(model={self.model!r}, base_url={self.base_url!r})"

    def describe(self) -> dict:
        return {"backend": "llm", "model": self.model, "base_url": self.base_url}

    # --- public calls ------------------------------------------------------------------------

    def complete(self, messages: list[dict], *, max_tokens: int | None = None,
                 response_format: dict | None = None) -> Completion:
        """One answer, non-streaming, retried on transient failures. Raises LLMError."""
        params = self._params(messages, max_tokens)
        if response_format is not None:
            params["response_format"] = response_format
        start = time.monotonic()
        attempts = 0

        def attempt() -> tuple[Any, str, str | None]:
            nonlocal attempts
            attempts += 1
            response = self._create(params)
            if not hasattr(response, "choices"):
                # openai returns the body as plain text when the content type is not JSON
                raise _Malformed(f"the answer is not a chat completion ({_snippet(response)})")
            choices = response.choices
            if not choices:
                raise _Malformed("the answer has no choices")
            message = getattr(choices[0], "message", None)
            content = getattr(message, "content", None)
            return response, content if isinstance(content, str) else "", getattr(choices[0], "finish_reason", None)

        response, text, finish = self._retrying(attempt, lambda: attempts, start)
        usage = self._usage(getattr(response, "usage", None), messages, text)
        model = getattr(response, "model", None)
        return Completion(text=text, usage=usage, attempts=attempts, seconds=time.monotonic() - start,
                          model=model if isinstance(model, str) and model else self.model, finish_reason=finish)

    def stream(self, messages: list[dict], *, max_tokens: int | None = None) -> TokenStream:
        """Text deltas as they come; nothing is sent until the first `next()`."""
        return TokenStream(self, messages, max_tokens)

    def health(self) -> dict:
        """Is the endpoint reachable and does it accept the key? Lists the models
        (short timeout, no retry). Never raises."""
        out = {"ok": False, "model": self.model, "base_url": self.base_url, "detail": ""}
        try:
            client = self._client.with_options(timeout=min(HEALTH_TIMEOUT, self.settings.llm_timeout), max_retries=0)
            page = client.models.list()
            ids = [m.id for m in getattr(page, "data", None) or [] if isinstance(getattr(m, "id", None), str)]
        except Exception as exc:
            out["detail"] = self._cause(exc)
            return out
        out["ok"] = True
        if self.model in ids or any(i.split(":")[0] == self.model for i in ids):
            out["detail"] = f"reachable; model {self.model!r} is served"
        elif ids:
            shown = ", ".join(ids[:8]) + (" ..." if len(ids) > 8 else "")
            out["detail"] = (f"reachable, but model {self.model!r} is not in the endpoint's list ({shown}); "
                             "requests may fail with 404")
        else:
            out["detail"] = "reachable (the endpoint listed no models)"
        return out

    # --- internals --------------------------------------------------------------------------

    def _params(self, messages: list[dict], max_tokens: int | None) -> dict:
        return {"model": self.model, "messages": messages, "temperature": self.settings.llm_temperature,
                self._token_param: int(max_tokens or self.settings.llm_max_tokens)}

    def _create(self, params: dict, **extra) -> Any:
        """chat.completions.create, adapting once to a server that rejects
        `max_tokens` in favour of `max_completion_tokens` (newer OpenAI models)."""
        try:
            return self._client.chat.completions.create(**params, **extra)
        except openai.BadRequestError as exc:
            text = _server_message(exc)
            if "max_tokens" in params and "max_completion_tokens" in text:
                params["max_completion_tokens"] = params.pop("max_tokens")
                self._token_param = "max_completion_tokens"
                log.info("%s: the server wants max_completion_tokens instead of max_tokens; switching", self.base_url)
                return self._client.chat.completions.create(**params, **extra)
            raise

    def _retrying(self, fn: Callable[[], T], attempts: Callable[[], int], start: float) -> T:
        """`fn` retried on transient failures; what still fails is raised as an LLMError
        (`attempts()`: the attempts made so far; `start`: when the call began, monotonic)."""
        s = self.settings
        backoff = wait_random_exponential(multiplier=s.llm_retry_initial, max=s.llm_retry_max)

        def wait(rs: RetryCallState) -> float:
            asked = _retry_after(rs.outcome.exception() if rs.outcome else None)
            if asked is not None and 0 <= asked <= s.llm_retry_max:
                return asked
            return backoff(rs)

        def before_sleep(rs: RetryCallState) -> None:
            exc = rs.outcome.exception() if rs.outcome else None
            log.warning("LLM %s (model %s) attempt %d/%d failed: %s; retrying in %.2f s", self.base_url, self.model,
                        attempts(), s.llm_max_attempts, self._cause(exc) if exc else "?", rs.upcoming_sleep)

        retrying = Retrying(
            retry=retry_if_exception(_is_transient),
            wait=wait,
            # stop_before_delay: stop when the next wait would end past the budget (implies stop_after_delay)
            stop=stop_after_attempt(s.llm_max_attempts) | stop_before_delay(s.llm_max_retry_seconds),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(fn)
        except LLMError:
            raise
        except Exception as exc:
            raise self._error(exc, attempts(), time.monotonic() - start) from None

    def _usage(self, reported: Any, messages: list[dict], text: str) -> Usage:
        prompt = getattr(reported, "prompt_tokens", None) if reported is not None else None
        completion = getattr(reported, "completion_tokens", None) if reported is not None else None
        if isinstance(prompt, int) and isinstance(completion, int) and (prompt or completion or not text):
            return Usage(prompt_tokens=prompt, completion_tokens=completion)
        return Usage(prompt_tokens=estimate_prompt_tokens(messages), completion_tokens=count_tokens(text),
                     estimated=True)

    def _stream_events(self, messages: list[dict], max_tokens: int | None, ts: TokenStream) -> Iterator[str]:
        params = self._params(messages, max_tokens)
        start = time.monotonic()
        attempts = 0
        state = _StreamState()

        def open_stream() -> tuple[Any, Iterator[Any], str]:
            """Send the request and read up to the first text delta (retried as a whole)."""
            nonlocal attempts, state
            attempts += 1
            state = _StreamState()
            stream = self._open(params)
            it = iter(stream)
            try:
                for chunk in it:
                    delta = state.absorb(chunk)
                    if delta:
                        return stream, it, delta
            except BaseException:
                stream.close()
                raise
            stream.close()
            if state.chunks == 0:
                raise _Malformed("the stream carried no events (not an OpenAI-style SSE stream)")
            return stream, it, ""

        stream, it, first = self._retrying(open_stream, lambda: attempts, start)

        parts: list[str] = []
        try:
            delta = first
            while True:
                if delta:
                    parts.append(delta)
                    ts.text += delta
                    yield delta
                try:
                    chunk = next(it)
                except StopIteration:
                    break
                except Exception as exc:
                    err = self._error(exc, attempts, time.monotonic() - start,
                                      prefix=f"the stream broke after {len(ts.text)} characters")
                    err.mid_stream, err.partial_text = bool(ts.text), ts.text
                    raise err from None
                delta = state.absorb(chunk)
        finally:
            stream.close()
        text = "".join(parts)
        if state.finish_reason is None:
            log.warning("LLM %s (model %s): the stream ended without a finish reason", self.base_url, self.model)
        ts.completion = Completion(text=text, usage=self._usage(state.usage, messages, text), attempts=attempts,
                                   seconds=time.monotonic() - start, model=state.model or self.model,
                                   finish_reason=state.finish_reason)

    def _open(self, params: dict) -> Any:
        """Start a stream asking for the final usage chunk; if the server rejects
        `stream_options` (400), ask once more without it, and remember."""
        if self._stream_usage_option:
            try:
                return self._create(params, stream=True, stream_options={"include_usage": True})
            except openai.BadRequestError as exc:
                log.info("%s rejected the request with stream_options (%s); retrying without it",
                         self.base_url, self._scrub(_server_message(exc)))
                stream = self._create(params, stream=True)
                self._stream_usage_option = False
                return stream
        return self._create(params, stream=True)

    # --- messages ----------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        if self._key and len(self._key) >= 4:
            text = text.replace(self._key, "***")
        return text

    def _cause(self, exc: BaseException) -> str:
        """What went wrong, in words, without the key."""
        timeout = self.settings.llm_timeout
        if isinstance(exc, (openai.APITimeoutError, httpx.TimeoutException)):
            cause = f"no answer within {timeout:g} s (timeout)"
        elif isinstance(exc, (openai.APIConnectionError, httpx.TransportError)):
            root = (exc.__cause__ or exc.__context__) if isinstance(exc, openai.APIConnectionError) else exc
            detail = " ".join(str(root or exc).split())[:200]
            cause = f"cannot reach the endpoint ({type(root or exc).__name__}: {detail})" if detail else \
                "cannot reach the endpoint (connection error)"
        elif isinstance(exc, openai.APIStatusError):
            status, said = exc.status_code, _server_message(exc)
            said_part = f": {said}" if said else ""
            if status == 401:
                cause = ("the endpoint rejected the API key (401)" if self._key else
                         "the endpoint requires an API key (401); set OPENAI_API_KEY") + said_part
            elif status == 403:
                cause = f"the endpoint refused access (403){said_part}"
            elif status == 404:
                cause = (f"not found (404): no model {self.model!r} there, or the base URL lacks /v1 "
                         f"(set PAPERS_LLM_MODEL / OPENAI_BASE_URL){said_part}")
            elif status == 429:
                cause = f"rate limited (429){said_part}"
            elif status >= 500:
                cause = f"server error ({status}){said_part}"
            else:
                cause = f"the endpoint rejected the request ({status}){said_part}"
        elif isinstance(exc, _Malformed):
            cause = f"malformed response: {exc}"
        elif isinstance(exc, openai.APIError):  # e.g. an error event inside a stream
            cause = f"the endpoint reported an error: {' '.join(str(exc.message).split())[:300]}"
        elif isinstance(exc, ValueError):  # JSON that does not parse
            cause = f"malformed response (not valid JSON: {' '.join(str(exc).split())[:120]})"
        else:  # the openai client tripped over an answer it could not read; details only in the debug log
            log.debug("%s: unreadable answer", self.base_url, exc_info=exc)
            cause = "malformed response (the answer could not be read as an OpenAI-style result)"
        return self._scrub(cause)

    def _error(self, exc: BaseException, attempts: int, seconds: float, prefix: str = "") -> LLMError:
        cause = self._cause(exc)
        if prefix:
            cause = f"{prefix}: {cause}"
        retryable = _is_transient(exc)
        if retryable and attempts > 1:
            cause = f"gave up after {attempts} attempts in {seconds:.1f} s; last error: {cause}"
        message = f"LLM endpoint {self.base_url} (model {self.model}): {cause}"
        log.info("%s", message)
        return LLMError(message, status=_status(exc), attempts=attempts, seconds=seconds, retryable=retryable)


def _snippet(value: Any) -> str:
    text = " ".join(str(value).split())
    return repr(text[:60] + ("..." if len(text) > 60 else ""))


def make_llm(settings) -> ChatLLM | None:
    """The configured chat model, or None (extractive answers) unless
    settings.llm_configured (an API key or base URL is set, and llm_enabled)."""
    if not settings.llm_configured:
        return None
    return ChatLLM(settings)
