"""The one adapter to an OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama,
llama.cpp server, LM Studio), built on the real `openai` client and `tenacity`.

* `ChatLLM.complete()` – one non-streaming answer, retried on transient failures.
* `ChatLLM.stream()` – a `TokenStream` yielding text deltas; retried only until the
  first token arrives, so text is never duplicated.
* `ChatLLM.health()` – a quick `/models` check that never raises.
* `ChatLLM.context_window()` – the context window in tokens and where that number came
  from: the smaller of what the server reports (asked once per `ChatLLM`, cached) and
  the setting `llm_context_tokens` (PAPERS_LLM_CONTEXT_TOKENS). Never raises.
* `count_tokens()` / `fit_to_budget()` – tiktoken cl100k_base, offline.

Context window probes (short timeout, no retries, at most one try of each; the first
that answers wins; a server that cannot be reached stops the probing):
`GET {base}/models` (vLLM: the served model's `max_model_len`), `GET {root}/props`
(llama.cpp's native server: `default_generation_settings.n_ctx`, or a top-level `n_ctx`),
`POST {root}/api/show` (Ollama: `num_ctx` in `parameters`, else
`model_info["<arch>.context_length"]`), where `{root}` is the base URL without its
trailing `/v1`. llama-cpp-python's server (`llama_cpp.server`, 0.3.x) reports its n_ctx on
no route (its /v1/models entries carry only id/object/owned_by/permissions, and it has no
/props), so there the setting rules until a context-overflow error names the server's
window ("This model's maximum context length is N tokens"); that number is remembered.

A request that does not fit the window raises `LLMError(overflow=True)` naming the
prompt's estimated size, the window in use and its source, and PAPERS_LLM_CONTEXT_TOKENS:
a 400 whose message speaks of the context (`context_length_exceeded`, "maximum context
length", ...), or – llama.cpp's way when streaming – an empty 200 stream while the
estimated prompt plus `max_tokens` is over the window (otherwise an empty stream stays a
malformed-response error that still mentions the possibility). Overflow is not retried.

A reply that may be incomplete says so: `Completion.cut` (finish_reason "length", or a
stream that ended without any finish reason) and `Completion.cut_reason`, in words.

Transient failures (429, 408, 5xx, timeouts, connection errors, a stream that breaks
before its first token) are retried with jittered exponential waits (a server's
`Retry-After` is honoured when it is no longer than `llm_retry_max`), at most
`llm_max_attempts` times; no retry starts, and no wait begins, that would pass
`llm_max_retry_seconds` since the first attempt (tenacity's `stop_before_delay`, a
stricter form of `stop_after_delay`). A started request may still run up to
`llm_timeout` seconds, so one call lasts at most about
`llm_max_retry_seconds + llm_timeout`.

Everything that goes wrong surfaces as `LLMError`, whose message names the endpoint
(base URL and model), the cause and, where one helps, the setting to change, and never
contains the API key.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)

from assistant.errors import LLMError
from assistant.lazy import lazy_module
from assistant.llm.tokens import count_tokens, estimate_prompt_tokens
from assistant.llm.usage import Completion, Usage
from assistant.settings import Settings

# Imported on first use: a process that answers without an LLM never loads them.
if TYPE_CHECKING:
    import httpx
    import openai
else:
    httpx = lazy_module("httpx")
    openai = lazy_module("openai")

log = logging.getLogger("assistant.llm")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
HEALTH_TIMEOUT = 5.0  # seconds, at most, for health() and each context-window probe
WINDOW_REPROBE_SECONDS = 60.0  # a server that could not be reached is asked again after this long

T = TypeVar("T")


# --- errors: what is transient, how to say it -----------------------------------------------


class _Malformed(Exception):
    """The endpoint answered 200 with something that is not a chat completion."""


class _EmptyStream(_Malformed):
    """A 200 stream that carried no events at all (llama.cpp's answer to a prompt over n_ctx)."""


# What servers say when a request does not fit the context window: OpenAI and vLLM
# ("This model's maximum context length is N tokens...", code context_length_exceeded),
# llama-cpp-python (the same words), llama.cpp ("the request exceeds the available context
# size", type exceed_context_size_error, with n_ctx / n_prompt_tokens), Anthropic-compatible
# endpoints ("prompt is too long: N tokens > M maximum"), and others ("too many tokens").
_OVERFLOW_WORDS = (
    "context_length_exceeded",
    "maximum context length",
    "n_ctx",
    "too many tokens",
    "prompt is too long",
)
_WINDOW_PATTERNS = (
    r"maximum context length is (\d+)",
    r"context window of (\d+)",
    r"\d+ tokens > (\d+) maximum",
    r"context size(?: of| is)? (\d+)",
)
_PROMPT_PATTERNS = (r"\((\d+) in the messages", r"requested tokens \((\d+)\)", r"prompt is too long: (\d+) tokens")


def _status(exc: BaseException) -> int | None:
    return exc.status_code if isinstance(exc, openai.APIStatusError) else None


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, (openai.APIConnectionError, httpx.TransportError)):  # includes timeouts
        return True
    status = _status(exc)
    return status is not None and (status in (408, 429) or status >= 500)


def retry_policy(settings: Settings, before_sleep: Callable[[RetryCallState], None] | None = None) -> Retrying:
    """The one retry policy for calls to an OpenAI-compatible endpoint (chat and embeddings):
    transient failures only (connection, timeout, 408, 429, 5xx), the server's Retry-After when
    it asks for no more than llm_retry_max, else jittered exponential backoff; at most
    llm_max_attempts attempts within llm_max_retry_seconds. The last failure is re-raised."""
    s = settings
    backoff = wait_random_exponential(multiplier=s.llm_retry_initial, max=s.llm_retry_max)

    def wait(rs: RetryCallState) -> float:
        asked = _retry_after(rs.outcome.exception() if rs.outcome else None)
        if asked is not None and 0 <= asked <= s.llm_retry_max:
            return asked
        return backoff(rs)

    return Retrying(
        retry=retry_if_exception(_is_transient),
        wait=wait,
        # stop_before_delay: stop when the next wait would end past the budget (implies stop_after_delay)
        stop=stop_after_attempt(s.llm_max_attempts) | stop_before_delay(s.llm_max_retry_seconds),
        before_sleep=before_sleep,
        reraise=True,
    )


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


def _overflow_text(exc: BaseException | None) -> str | None:
    """The server's words when `exc` says the request did not fit the context window, else None."""
    if not isinstance(exc, openai.APIError) or isinstance(
        exc, (openai.APIConnectionError, openai.APIResponseValidationError)
    ):
        return None
    if isinstance(exc, openai.APIStatusError) and exc.status_code not in (400, 413, 422):
        return None
    body = exc.body
    try:
        text = json.dumps(body) if isinstance(body, (dict, list)) else str(body or "")
    except (TypeError, ValueError):
        text = str(body)
    text = f"{exc.message} {text}".lower()
    if any(w in text for w in _OVERFLOW_WORDS) or ("exceed" in text and "context" in text):
        return _server_message(exc) if isinstance(exc, openai.APIStatusError) else " ".join(exc.message.split())[:300]
    return None


def _overflow_numbers(exc: BaseException) -> tuple[int | None, int | None]:
    """(the server's context window, the prompt tokens it counted), when its error says them."""
    body = getattr(exc, "body", None)
    window = prompt = None
    if isinstance(body, dict):
        error = body.get("error")
        inner = error if isinstance(error, dict) else body
        window, prompt = _positive_int(inner.get("n_ctx")), _positive_int(inner.get("n_prompt_tokens"))
    text = f"{getattr(exc, 'message', '')} {body}".lower()
    for pattern in _WINDOW_PATTERNS:
        if window is None and (m := re.search(pattern, text)):
            window = int(m.group(1))
    for pattern in _PROMPT_PATTERNS:
        if prompt is None and (m := re.search(pattern, text)):
            prompt = int(m.group(1))
    return window, prompt


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return value if isinstance(value, int) and value > 0 else None


def _window_from_props(data: Any) -> tuple[int, str] | None:
    """llama.cpp's native GET /props: default_generation_settings.n_ctx, or a top-level n_ctx."""
    if not isinstance(data, dict):
        return None
    settings = data.get("default_generation_settings")
    tokens = _positive_int(settings.get("n_ctx")) if isinstance(settings, dict) else None
    tokens = tokens or _positive_int(data.get("n_ctx"))
    return (tokens, "llama.cpp /props n_ctx") if tokens else None


def _window_from_ollama(data: Any) -> tuple[int, str] | None:
    """Ollama's POST /api/show: `num_ctx` in `parameters` (the window the model runs with)
    when set, else model_info["<arch>.context_length"] (what the model was trained for;
    Ollama may run it with a smaller default num_ctx, which the setting then bounds)."""
    if not isinstance(data, dict):
        return None
    parameters = data.get("parameters")
    if isinstance(parameters, str) and (m := re.search(r"^\s*num_ctx\s+(\d+)", parameters, re.MULTILINE)):
        return int(m.group(1)), "Ollama /api/show num_ctx"
    info = data.get("model_info")
    if isinstance(info, dict):
        arch = info.get("general.architecture")
        keys = [f"{arch}.context_length"] if isinstance(arch, str) else []
        keys += sorted(k for k in info if isinstance(k, str) and k.endswith(".context_length"))
        for key in keys:
            tokens = _positive_int(info.get(key))
            if tokens:
                return tokens, f"Ollama /api/show {key}"
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

    def __init__(self, llm: ChatLLM, messages: list[dict], max_tokens: int | None):
        self.completion: Completion | None = None
        self.text = ""
        self._gen = llm._stream_events(messages, max_tokens, self)

    def __iter__(self) -> TokenStream:
        return self

    def __next__(self) -> str:
        return next(self._gen)

    def close(self) -> None:
        self._gen.close()

    def __enter__(self) -> TokenStream:
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
            api_key=key or "not-needed",
            base_url=(settings.openai_base_url or DEFAULT_BASE_URL).strip(),
            timeout=settings.llm_timeout,
            max_retries=0,
        )
        self._stream_usage_option = True  # cleared once a server is seen rejecting stream_options
        self._token_param = "max_tokens"  # becomes max_completion_tokens if the server demands it
        # the context window the server reports: probed once (under the lock), then cached
        self._window_lock = threading.Lock()
        self._window_probe: tuple[int | None, str] | None = None
        self._window_unreachable_at: float | None = None  # the probe could not reach the server (monotonic)
        self._window_learned: tuple[int, str] | None = None  # from a context-overflow error's own words

    def __repr__(self) -> str:
        return f"ChatLLM(model={self.model!r}, base_url={self.base_url!r})"

    def describe(self) -> dict:
        return {"backend": "llm", "model": self.model, "base_url": self.base_url}

    # --- public calls ------------------------------------------------------------------------

    def complete(
        self, messages: list[dict], *, max_tokens: int | None = None, response_format: dict | None = None
    ) -> Completion:
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

        response, text, finish = self._retrying(attempt, lambda: attempts, start, request=(messages, max_tokens))
        usage = self._usage(getattr(response, "usage", None), messages, text)
        model = getattr(response, "model", None)
        finish = finish if isinstance(finish, str) and finish else None
        cut_reason = self._cut_reason(finish, max_tokens) if finish == "length" else ""
        return Completion(
            text=text,
            usage=usage,
            attempts=attempts,
            seconds=time.monotonic() - start,
            model=model if isinstance(model, str) and model else self.model,
            finish_reason=finish,
            cut=bool(cut_reason),
            cut_reason=cut_reason,
        )

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
            out["detail"] = (
                f"reachable, but model {self.model!r} is not in the endpoint's list ({shown}); "
                "requests may fail with 404"
            )
        else:
            out["detail"] = "reachable (the endpoint listed no models)"
        return out

    def context_window(self) -> tuple[int, str]:
        """(tokens, where that number came from): the smaller of the window the server
        reports and the setting PAPERS_LLM_CONTEXT_TOKENS, or the setting alone when the
        server reports none. The server is asked once per ChatLLM (see the module
        docstring); a server that could not be reached is asked again at most every
        WINDOW_REPROBE_SECONDS. Never raises."""
        setting = int(self.settings.llm_context_tokens)
        try:
            server, source = self._server_window()
        except Exception as exc:  # never fatal: the setting is the answer
            log.debug("%s: context window probe failed", self.base_url, exc_info=exc)
            server, source = None, ""
        if server is None:
            return setting, "setting PAPERS_LLM_CONTEXT_TOKENS (the server reports none)"
        if server < setting:
            return server, f"{source} (smaller than PAPERS_LLM_CONTEXT_TOKENS={setting})"
        if setting < server:
            return setting, f"setting PAPERS_LLM_CONTEXT_TOKENS (smaller than the server's {server} from {source})"
        return setting, f"{source}, the same as PAPERS_LLM_CONTEXT_TOKENS"

    # --- context window ----------------------------------------------------------------------

    def _server_window(self) -> tuple[int | None, str]:
        """The smallest window the server has told of (probe or overflow error), cached."""
        with self._window_lock:
            stale = (
                self._window_unreachable_at is not None
                and time.monotonic() - self._window_unreachable_at >= WINDOW_REPROBE_SECONDS
            )
            if self._window_probe is None or stale:
                self._window_unreachable_at = None
                self._window_probe = self._probe_window()
            found = [
                (w[0], w[1]) for w in (self._window_probe, self._window_learned) if w is not None and w[0] is not None
            ]
        if not found:
            return None, ""
        return min(found, key=lambda w: w[0])

    def _learn_window(self, tokens: int, source: str) -> None:
        with self._window_lock:
            if self._window_learned is None or tokens < self._window_learned[0]:
                self._window_learned = (tokens, source)

    def _probe_window(self) -> tuple[int | None, str]:
        """Ask the server for its context window: vLLM, llama.cpp, Ollama shapes, in that
        order, one try each with a short timeout; (None, "") when none answers."""
        base = (self.settings.openai_base_url or DEFAULT_BASE_URL).strip().rstrip("/")
        root = base[:-3] if base.endswith("/v1") else base
        timeout = min(HEALTH_TIMEOUT, self.settings.llm_timeout)
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        probes: list[tuple[str, str, dict | None, Callable[[Any], tuple[int, str] | None]]] = [
            ("GET", f"{base}/models", None, self._window_from_models),
            ("GET", f"{root}/props", None, _window_from_props),
            ("POST", f"{root}/api/show", {"model": self.model}, _window_from_ollama),
        ]
        for method, url, body, read in probes:
            try:
                if method == "GET":
                    response = httpx.get(url, headers=headers, timeout=timeout)
                else:
                    response = httpx.post(url, json=body, headers=headers, timeout=timeout)
            except httpx.TransportError as exc:  # refused, timed out, ...: the other probes would fare no better
                self._window_unreachable_at = time.monotonic()
                log.info(
                    "%s: cannot ask the server for its context window (%s); using PAPERS_LLM_CONTEXT_TOKENS",
                    self.base_url,
                    self._scrub(" ".join(str(exc).split())[:200]) or type(exc).__name__,
                )
                return None, ""
            except Exception as exc:  # a URL httpx refuses, ...: not this probe
                log.debug("%s: context window probe %s failed", self.base_url, url, exc_info=exc)
                continue
            if response.status_code != 200:
                continue
            try:
                found = read(response.json())
            except Exception:  # not JSON, or not the expected shape
                found = None
            if found is not None:
                log.info("%s: context window %d tokens (%s)", self.base_url, *found)
                return found
        return None, ""

    def _window_from_models(self, data: Any) -> tuple[int, str] | None:
        """vLLM's /v1/models: the served model's `max_model_len` (also `context_length` /
        `context_window`, which some hosted endpoints list). llama.cpp's `meta.n_ctx_train`
        is the training length, not the running window: not used."""
        entries = data.get("data") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            return None
        entries = [e for e in entries if isinstance(e, dict)]
        chosen = (
            [e for e in entries if e.get("id") == self.model]
            or [e for e in entries if str(e.get("id", "")).split(":")[0] == self.model]
            or (entries if len(entries) == 1 else [])
        )
        for entry in chosen:
            for key, source in (
                ("max_model_len", "vLLM /v1/models max_model_len"),
                ("context_length", "/v1/models context_length"),
                ("context_window", "/v1/models context_window"),
            ):
                tokens = _positive_int(entry.get(key))
                if tokens:
                    return tokens, source
        return None

    # --- internals --------------------------------------------------------------------------

    def _params(self, messages: list[dict], max_tokens: int | None) -> dict:
        return {
            "model": self.model,
            "messages": messages,
            "temperature": self.settings.llm_temperature,
            self._token_param: int(max_tokens or self.settings.llm_max_tokens),
        }

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

    def _retrying(
        self,
        fn: Callable[[], T],
        attempts: Callable[[], int],
        start: float,
        request: tuple[list[dict], int | None] | None = None,
    ) -> T:
        """`fn` retried on transient failures; what still fails is raised as an LLMError
        (`attempts()`: the attempts made so far; `start`: when the call began, monotonic;
        `request`: (messages, max_tokens), to say how big a request that did not fit was)."""
        s = self.settings

        def before_sleep(rs: RetryCallState) -> None:
            exc = rs.outcome.exception() if rs.outcome else None
            log.warning(
                "LLM %s (model %s) attempt %d/%d failed: %s; retrying in %.2f s",
                self.base_url,
                self.model,
                attempts(),
                s.llm_max_attempts,
                self._cause(exc) if exc else "?",
                rs.upcoming_sleep,
            )

        retrying = retry_policy(s, before_sleep)
        try:
            return retrying(fn)
        except LLMError:
            raise
        except Exception as exc:
            raise self._error(exc, attempts(), time.monotonic() - start, request=request) from None

    def _usage(self, reported: Any, messages: list[dict], text: str) -> Usage:
        prompt = getattr(reported, "prompt_tokens", None) if reported is not None else None
        completion = getattr(reported, "completion_tokens", None) if reported is not None else None
        if isinstance(prompt, int) and isinstance(completion, int) and (prompt or completion or not text):
            return Usage(prompt_tokens=prompt, completion_tokens=completion)
        return Usage(
            prompt_tokens=estimate_prompt_tokens(messages), completion_tokens=count_tokens(text), estimated=True
        )

    def _stream_events(
        self, messages: list[dict], max_tokens: int | None, ts: TokenStream
    ) -> Generator[str, None, None]:
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
            except ValueError as exc:  # an event whose data is not JSON
                stream.close()
                raise _Malformed(_bad_event(exc)) from None
            except BaseException:
                stream.close()
                raise
            stream.close()
            if state.chunks == 0:
                raise _EmptyStream("the stream carried no events (not an OpenAI-style SSE stream)")
            return stream, it, ""

        request = (messages, max_tokens)
        stream, it, first = self._retrying(open_stream, lambda: attempts, start, request=request)

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
                    if isinstance(exc, ValueError):
                        exc = _Malformed(_bad_event(exc))
                    err = self._error(
                        exc,
                        attempts,
                        time.monotonic() - start,
                        request=request,
                        prefix=f"the stream broke after {len(ts.text)} characters",
                    )
                    err.mid_stream, err.partial_text = bool(ts.text), ts.text
                    raise err from None
                delta = state.absorb(chunk)
        finally:
            stream.close()
        text = "".join(parts)
        # The openai client ends the iteration alike on `data: [DONE]` and on a connection
        # closed without it (its Stream exposes no flag for [DONE]), so a cut stream is
        # recognised by its missing finish_reason alone.
        cut_reason = (
            self._cut_reason(state.finish_reason, max_tokens) if state.finish_reason in (None, "length") else ""
        )
        if state.finish_reason is None:
            log.warning("LLM %s (model %s): %s", self.base_url, self.model, cut_reason)
        ts.completion = Completion(
            text=text,
            usage=self._usage(state.usage, messages, text),
            attempts=attempts,
            seconds=time.monotonic() - start,
            model=state.model or self.model,
            finish_reason=state.finish_reason,
            cut=bool(cut_reason),
            cut_reason=cut_reason,
        )

    def _cut_reason(self, finish_reason: str | None, max_tokens: int | None) -> str:
        if finish_reason == "length":
            limit = int(max_tokens or self.settings.llm_max_tokens)
            if limit == self.settings.llm_max_tokens:
                return f"the reply hit the token limit (PAPERS_LLM_MAX_TOKENS={limit})"
            return f"the reply hit the token limit (max_tokens={limit} for this call)"
        return "the stream ended without a finish reason or [DONE] (the server closed it early)"

    def _open(self, params: dict) -> Any:
        """Start a stream asking for the final usage chunk; if the server rejects
        `stream_options` (400), ask once more without it, and remember."""
        if self._stream_usage_option:
            try:
                return self._create(params, stream=True, stream_options={"include_usage": True})
            except openai.BadRequestError as exc:
                if _overflow_text(exc) is not None:  # too long, not a stream_options refusal
                    raise
                log.info(
                    "%s rejected the request with stream_options (%s); retrying without it",
                    self.base_url,
                    self._scrub(_server_message(exc)),
                )
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
        s = self.settings
        if isinstance(exc, (openai.APITimeoutError, httpx.TimeoutException)):
            cause = f"no answer within {s.llm_timeout:g} s (timeout; PAPERS_LLM_TIMEOUT sets it)"
        elif isinstance(exc, (openai.APIConnectionError, httpx.TransportError)):
            root = (exc.__cause__ or exc.__context__) if isinstance(exc, openai.APIConnectionError) else exc
            detail = " ".join(str(root or exc).split())[:200]
            what = f"{type(root or exc).__name__}: {detail}" if detail else "connection error"
            hint = "; is the server running there? (OPENAI_BASE_URL)" if "refused" in detail.lower() else ""
            cause = f"cannot reach the endpoint ({what}){hint}"
        elif isinstance(exc, openai.APIStatusError):
            status, said = exc.status_code, _server_message(exc)
            said_part = f": {said}" if said else ""
            if status == 401:
                cause = (
                    "the endpoint rejected the API key (401); check OPENAI_API_KEY"
                    if self._key
                    else "the endpoint requires an API key (401); set OPENAI_API_KEY"
                ) + said_part
            elif status == 403:
                cause = f"the endpoint refused access (403){said_part}"
            elif status == 404:
                said_note = f" (the server said: {said})" if said else ""
                if not re.search(r"/v\d", urlsplit(self.base_url).path):
                    cause = (
                        f"not found (404): the base URL has no /v1 path, where OpenAI-compatible servers "
                        f"answer (/v1/chat/completions); set OPENAI_BASE_URL={self.base_url}/v1{said_note}"
                    )
                else:
                    cause = (
                        f"not found (404): no model {self.model!r} there (set PAPERS_LLM_MODEL to one the "
                        f"server lists), or OPENAI_BASE_URL is not the server's API path{said_note}"
                    )
            elif status == 429:
                asked = _retry_after(exc)
                if asked is None:
                    cause = f"rate limited (429){said_part}"
                elif asked > s.llm_retry_max:
                    cause = (
                        f"rate limited (429; the server asked to wait {asked:g} s, longer than "
                        f"PAPERS_LLM_RETRY_MAX={s.llm_retry_max:g} s, so shorter waits were tried){said_part}"
                    )
                else:
                    cause = f"rate limited (429; the server asked to wait {asked:g} s){said_part}"
            elif status == 503:
                cause = f"server unavailable (503: overloaded, or still loading the model){said_part}"
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

    def _overflow_cause(self, exc: BaseException, said: str, messages: list[dict], max_tokens: int | None) -> str:
        """A request the server refused as longer than its context window, in words."""
        prompt, reply = estimate_prompt_tokens(messages), int(max_tokens or self.settings.llm_max_tokens)
        window, source = self.context_window()  # the window this request was built for
        server_window, server_prompt = _overflow_numbers(exc)
        counted = f"; the server counted {server_prompt}" if server_prompt else ""
        status = _status(exc)
        where = f"{status}" if status else "an error event in the stream"
        if server_window:
            self._learn_window(server_window, "the server's context-overflow error")
            told = f"; the server says its window is {server_window} tokens"
            fix = f"set PAPERS_LLM_CONTEXT_TOKENS to {server_window} or less"
        else:
            told = ""
            fix = "set PAPERS_LLM_CONTEXT_TOKENS to the server's real context window"
        return (
            f"the request does not fit the model's context window ({where}: {said}). The prompt is about "
            f"{prompt} tokens (estimated{counted}) plus up to {reply} for the reply; the window in use is "
            f"{window} tokens, from {source}{told}. To fix: {fix}; fewer abstracts "
            f"(PAPERS_ANSWER_PAPERS) or a smaller PAPERS_LLM_MAX_TOKENS also shrink the request"
        )

    def _empty_stream_cause(self, messages: list[dict], max_tokens: int | None) -> tuple[str, bool]:
        """(cause, overflow) for a 200 stream without a single event."""
        prompt, reply = estimate_prompt_tokens(messages), int(max_tokens or self.settings.llm_max_tokens)
        window, source = self.context_window()
        why = (
            f"A llama.cpp server sends an empty stream when the prompt (about {prompt} tokens, estimated) plus "
            f"the reply (up to {reply} tokens) exceeds its context window; the window in use is {window} tokens, "
            f"from {source}"
        )
        if prompt + reply > window:
            if source.startswith("setting"):
                fix = (
                    "set PAPERS_LLM_CONTEXT_TOKENS to the server's real window; fewer abstracts "
                    "(PAPERS_ANSWER_PAPERS) or a smaller PAPERS_LLM_MAX_TOKENS also shrink the request"
                )
            else:  # the server's own window: a larger setting cannot help
                fix = (
                    "send less: fewer abstracts (PAPERS_ANSWER_PAPERS) or a smaller PAPERS_LLM_MAX_TOKENS "
                    f"(PAPERS_LLM_CONTEXT_TOKENS cannot raise the server's {window})"
                )
            return (
                f"the request does not fit the model's context window: the stream carried no events. {why}, and "
                f"{prompt} + {reply} = {prompt + reply} is over it. To fix: {fix}"
            ), True
        return (
            f"the stream carried no events (no OpenAI-style SSE data); if the server's context window is smaller "
            f"than {window} tokens, set PAPERS_LLM_CONTEXT_TOKENS to it. {why}; the estimate fits that window"
        ), False

    def _error(
        self,
        exc: BaseException,
        attempts: int,
        seconds: float,
        prefix: str = "",
        request: tuple[list[dict], int | None] | None = None,
    ) -> LLMError:
        overflow = False
        said = _overflow_text(exc)
        if request is not None and said is not None:
            cause, overflow = self._scrub(self._overflow_cause(exc, said, *request)), True
        elif request is not None and isinstance(exc, _EmptyStream):
            cause, overflow = self._empty_stream_cause(*request)
            cause = self._scrub(cause)
        else:
            cause = self._cause(exc)
        if prefix:
            cause = f"{prefix}: {cause}"
        retryable = _is_transient(exc)
        if retryable and attempts > 1:
            s = self.settings
            cause = (
                f"gave up after {attempts} attempts in {seconds:.1f} s (PAPERS_LLM_MAX_ATTEMPTS="
                f"{s.llm_max_attempts}, PAPERS_LLM_MAX_RETRY_SECONDS={s.llm_max_retry_seconds:g}); "
                f"last error: {cause}"
            )
        message = f"LLM endpoint {self.base_url} (model {self.model}): {cause}"
        log.info("%s", message)
        return LLMError(
            message,
            status=_status(exc),
            attempts=attempts,
            seconds=seconds,
            retryable=retryable,
            overflow=overflow,
            empty_stream=isinstance(exc, _EmptyStream),
        )


def _bad_event(exc: ValueError) -> str:
    return f"a stream event is not valid JSON ({' '.join(str(exc).split())[:120]})"


def _snippet(value: Any) -> str:
    text = " ".join(str(value).split())
    return repr(text[:60] + ("..." if len(text) > 60 else ""))


def make_llm(settings) -> ChatLLM | None:
    """The configured chat model, or None (extractive answers) unless
    settings.llm_configured (an API key or base URL is set, and llm_enabled)."""
    if not settings.llm_configured:
        return None
    return ChatLLM(settings)
