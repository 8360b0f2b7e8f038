"""assistant.llm against a real OpenAI-compatible HTTP server on 127.0.0.1
(tests/llm_server.py) through the real `openai` client: completions, streams,
usage, retries, refusals, malformed answers, broken connections, time bounds,
health, and token counting."""

from __future__ import annotations

import json
import time

import pytest

from assistant.llm import ChatLLM, Completion, LLMError, Usage, count_tokens, fit_to_budget, make_llm
from assistant.settings import Settings
from llm_server import llm_server, split_words  # noqa: F401  (fixture)

MESSAGES = [{"role": "system", "content": "Answer from the sources."},
            {"role": "user", "content": "What is dense retrieval?"}]
LEAKS = ("Traceback", "AttributeError", "JSONDecodeError", "KeyError", "TypeError")


def ask(llm: ChatLLM) -> Completion:
    return llm.complete(MESSAGES)


def drain(stream) -> tuple[list[str], LLMError | None]:
    got: list[str] = []
    try:
        for delta in stream:
            got.append(delta)
    except LLMError as exc:
        return got, exc
    return got, None


# --- answers and usage ---------------------------------------------------------------------


def test_complete_returns_text_usage_and_sends_the_settings(llm_server):
    llm_server.reply = lambda req: "Dense retrieval embeds queries and passages [1]."
    llm = ChatLLM(llm_server.settings(llm_temperature=0.2, llm_max_tokens=321))
    c = ask(llm)
    assert c.text == "Dense retrieval embeds queries and passages [1]."
    # the server's own counts (words + messages; one per delta), not an estimate
    assert c.usage == Usage(prompt_tokens=8 + 2, completion_tokens=7, estimated=False)
    assert c.attempts == 1 and c.model == "test-model" and c.finish_reason == "stop" and 0 < c.seconds < 5
    req = llm_server.requests[-1]
    assert req["model"] == "test-model" and req["messages"] == MESSAGES
    assert req["temperature"] == 0.2 and req["max_tokens"] == 321 and not req.get("stream")

    llm.complete(MESSAGES, max_tokens=50, response_format={"type": "json_object"})
    req = llm_server.requests[-1]
    assert req["max_tokens"] == 50 and req["response_format"] == {"type": "json_object"}


def test_stream_yields_deltas_in_order_then_the_completion(llm_server):
    deltas = ["Sparse ", "and ", "dense ", "retrievers ", "complement ", "each ", "other ", "[2]."]
    llm_server.plan(chunks=deltas)
    stream = ChatLLM(llm_server.settings()).stream(MESSAGES)
    got, err = drain(stream)
    assert err is None and got == deltas and stream.text == "".join(deltas)
    c = stream.completion
    assert c.text == "".join(deltas) and c.attempts == 1 and c.finish_reason == "stop"
    assert c.usage == Usage(prompt_tokens=10, completion_tokens=len(deltas), estimated=False)
    req = llm_server.requests[-1]
    assert req["stream"] is True and req["stream_options"] == {"include_usage": True}


def test_usage_is_estimated_with_tiktoken_when_the_server_sends_none(llm_server):
    text = "BM25 scores terms by frequency and rarity."
    llm = ChatLLM(llm_server.settings())
    llm_server.plan(text=text, usage=False)
    c = ask(llm)
    assert c.usage.estimated and c.usage.completion_tokens == count_tokens(text)
    prompt = 3 + sum(3 + count_tokens(m["content"]) for m in MESSAGES)
    assert c.usage.prompt_tokens == prompt

    llm_server.plan(text=text, usage=False)
    stream = llm.stream(MESSAGES)
    assert "".join(stream) == text
    assert stream.completion.usage == Usage(prompt_tokens=prompt, completion_tokens=count_tokens(text), estimated=True)


def test_stream_options_rejected_with_400_is_retried_once_without_it(llm_server):
    llm = ChatLLM(llm_server.settings())
    llm_server.plan(status=400, error="Unrecognized request argument supplied: stream_options")
    stream = llm.stream(MESSAGES)
    assert "".join(stream) == llm_server.reply({})
    first, second = llm_server.requests
    assert "stream_options" in first and "stream_options" not in second
    assert stream.completion.usage.estimated  # no usage chunk without the option
    "".join(llm.stream(MESSAGES))  # remembered: not asked again
    assert "stream_options" not in llm_server.requests[-1] and len(llm_server.requests) == 3


def test_max_completion_tokens_is_used_when_the_server_demands_it(llm_server):
    llm = ChatLLM(llm_server.settings())
    llm_server.plan(status=400, error="Unsupported parameter: 'max_tokens' is not supported with this model. "
                                      "Use 'max_completion_tokens' instead.")
    assert ask(llm).text
    assert "max_tokens" in llm_server.requests[0] and llm_server.requests[1]["max_completion_tokens"] == 600
    ask(llm)
    assert "max_tokens" not in llm_server.requests[2] and "max_completion_tokens" in llm_server.requests[2]


def test_usage_add_and_to_dict():
    total = Usage()
    total.add(Usage(10, 5))
    total.add(Usage(1, 2, estimated=True))
    assert total == Usage(11, 7, True)
    assert total.to_dict() == {"prompt_tokens": 11, "completion_tokens": 7, "estimated": True, "total_tokens": 18}


# --- retries -------------------------------------------------------------------------------


def test_429_is_retried_then_succeeds(llm_server):
    llm_server.plan(status=429, headers={"Retry-After": "0"})
    c = ask(ChatLLM(llm_server.settings()))
    assert c.attempts == 2 and c.text and len(llm_server.requests) == 2


def test_retry_after_is_honoured_only_up_to_llm_retry_max(llm_server):
    llm_server.plan(status=429, headers={"Retry-After": "0.4"})
    c = ask(ChatLLM(llm_server.settings(llm_retry_initial=0.001, llm_retry_max=0.5)))
    assert c.attempts == 2 and c.seconds >= 0.4
    llm_server.plan(status=429, headers={"Retry-After": "30"})  # longer than llm_retry_max: own backoff
    c = ask(ChatLLM(llm_server.settings(llm_retry_initial=0.001, llm_retry_max=0.05)))
    assert c.attempts == 2 and c.seconds < 2


def test_500_twice_is_retried_then_succeeds(llm_server):
    llm_server.plan(status=500)
    llm_server.plan(status=503)
    c = ask(ChatLLM(llm_server.settings(llm_max_attempts=3)))
    assert c.attempts == 3 and c.text == llm_server.reply({}) and len(llm_server.requests) == 3


def test_server_errors_exhaust_the_attempts(llm_server):
    for _ in range(3):
        llm_server.plan(status=502, error="bad gateway")
    with pytest.raises(LLMError) as info:
        ask(ChatLLM(llm_server.settings(llm_max_attempts=3)))
    err = info.value
    assert err.attempts == 3 and err.status == 502 and err.retryable and len(llm_server.requests) == 3
    assert "gave up after 3 attempts" in str(err) and "502" in str(err)


def test_timeouts_are_retried_then_fail_after_max_attempts(llm_server):
    for _ in range(3):
        llm_server.plan(delay=3.0)
    start = time.monotonic()
    with pytest.raises(LLMError) as info:
        ask(ChatLLM(llm_server.settings(llm_timeout=0.3, llm_max_attempts=3)))
    elapsed = time.monotonic() - start
    err = info.value
    assert err.attempts == 3 and len(llm_server.requests) == 3 and err.retryable
    assert "timeout" in str(err) and llm_server.url in str(err)
    assert 0.9 <= elapsed < 2.5


def test_stop_after_delay_bounds_the_total_time(llm_server):
    for _ in range(40):
        llm_server.plan(status=500)
    settings = llm_server.settings(llm_max_attempts=20, llm_max_retry_seconds=0.6,
                                   llm_retry_initial=0.15, llm_retry_max=0.15)
    start = time.monotonic()
    with pytest.raises(LLMError) as info:
        ask(ChatLLM(settings))
    elapsed = time.monotonic() - start
    assert elapsed < 0.6 + 0.5  # no wait may end past the budget; requests here are instant
    assert 2 <= info.value.attempts < 20


@pytest.mark.parametrize("status, words", [(400, "rejected the request (400)"), (403, "refused access (403)"),
                                           (404, "not found (404)"), (422, "rejected the request (422)")])
def test_client_errors_are_not_retried(llm_server, status, words):
    llm_server.plan(status=status, error="nope")
    with pytest.raises(LLMError) as info:
        ask(ChatLLM(llm_server.settings()))
    err = info.value
    assert err.attempts == 1 and err.status == status and not err.retryable and len(llm_server.requests) == 1
    assert words in str(err) and "nope" in str(err) and "test-model" in str(err)


def test_401_fails_at_once_without_showing_the_key(llm_server):
    secret = "sk-test-very-secret-0123456789"
    llm_server.api_key = "the-right-key"
    llm = ChatLLM(llm_server.settings(openai_api_key=secret))
    with pytest.raises(LLMError) as info:
        ask(llm)
    err = info.value
    assert err.attempts == 1 and err.status == 401 and len(llm_server.requests) == 1
    assert "rejected the API key (401)" in str(err) and secret not in str(err)
    assert llm_server.url + "/v1" in str(err) and "test-model" in str(err)
    # a server that echoes the key back: scrubbed
    llm_server.api_key = None
    llm_server.plan(status=401, error=f"Incorrect API key provided: {secret}.")
    with pytest.raises(LLMError) as info:
        ask(llm)
    assert secret not in str(info.value) and "***" in str(info.value)
    assert secret not in repr(llm) and secret not in json.dumps(llm.describe())


# --- malformed answers and broken connections ---------------------------------------------------


@pytest.mark.parametrize("raw, content_type", [
    (b"not json", "application/json"),
    (b"<html>gateway</html>", "text/html"),
    (b'{"id": "x", "object": "chat.completion", "choices": []}', "application/json"),
    (b"{}", "application/json"),
    (b"[1, 2]", "application/json"),
])
def test_malformed_answers_raise_llm_error(llm_server, raw, content_type):
    llm_server.plan(raw=raw, content_type=content_type)
    with pytest.raises(LLMError) as info:
        ask(ChatLLM(llm_server.settings()))
    message = str(info.value)
    assert "malformed response" in message and not any(leak in message for leak in LEAKS)
    assert info.value.attempts == 1


def test_null_content_is_empty_text(llm_server):
    body = {"id": "x", "object": "chat.completion", "created": 0, "model": "test-model",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": None}}]}
    llm_server.plan(raw=json.dumps(body).encode())
    c = ask(ChatLLM(llm_server.settings()))
    assert c.text == "" and c.usage.estimated and c.usage.completion_tokens == 0


def test_malformed_stream_raises_llm_error(llm_server):
    llm_server.plan(raw=b"data: {not json}\n\n", content_type="text/event-stream")
    _, err = drain(ChatLLM(llm_server.settings()).stream(MESSAGES))
    assert err is not None and not err.mid_stream and not any(leak in str(err) for leak in LEAKS)
    llm_server.plan(raw=b'{"choices": []}')  # JSON where a stream was expected
    _, err = drain(ChatLLM(llm_server.settings()).stream(MESSAGES))
    assert err is not None and "malformed" in str(err)


def test_error_event_in_a_stream_raises_llm_error(llm_server):
    llm_server.plan(raw=b'data: {"error": {"message": "prompt is too long"}}\n\n', content_type="text/event-stream")
    _, err = drain(ChatLLM(llm_server.settings()).stream(MESSAGES))
    assert err is not None and "prompt is too long" in str(err) and err.attempts == 1 and not err.mid_stream


def test_connection_refused_names_the_base_url(llm_server):
    settings = llm_server.settings()
    llm_server.stop()
    llm = ChatLLM(settings)
    with pytest.raises(LLMError) as info:
        ask(llm)
    err = info.value
    assert settings.openai_base_url in str(err) and "refused" in str(err).lower()
    assert err.attempts == settings.llm_max_attempts and err.retryable
    _, err = drain(llm.stream(MESSAGES))
    assert err is not None and not err.mid_stream and settings.openai_base_url in str(err)


def test_mid_stream_break_raises_without_duplicating_text(llm_server):
    deltas = ["one ", "two ", "three ", "four"]
    llm_server.plan(chunks=deltas, stream_break_after=2)
    stream = ChatLLM(llm_server.settings()).stream(MESSAGES)
    got, err = drain(stream)
    assert got == ["one ", "two "] and err is not None
    assert err.mid_stream and err.partial_text == "one two " and "stream broke" in str(err)
    assert len(llm_server.requests) == 1 and stream.completion is None  # no retry once text was shown


def test_stream_failing_before_its_first_token_is_retried(llm_server):
    llm_server.plan(status=429, headers={"Retry-After": "0"})
    llm_server.plan(chunks=["lost"], stream_break_after=0)  # breaks before any text
    llm_server.plan(chunks=["Only ", "once."])
    stream = ChatLLM(llm_server.settings(llm_max_attempts=3)).stream(MESSAGES)
    got, err = drain(stream)
    assert err is None and got == ["Only ", "once."] and stream.completion.attempts == 3


def test_stream_timeout_before_first_token_then_error(llm_server):
    llm_server.plan(delay=3.0)
    llm_server.plan(delay=3.0)
    _, err = drain(ChatLLM(llm_server.settings(llm_timeout=0.3, llm_max_attempts=2)).stream(MESSAGES))
    assert err is not None and err.attempts == 2 and not err.mid_stream and "timeout" in str(err)


def test_closing_a_stream_early_is_quiet(llm_server):
    llm_server.plan(chunks=["a ", "b ", "c"], chunk_delay=0.05)
    with ChatLLM(llm_server.settings()).stream(MESSAGES) as stream:
        assert next(stream) == "a "
    assert stream.completion is None and stream.text == "a "


# --- health, construction ----------------------------------------------------------------------


def test_health_ok_and_not_ok(llm_server):
    llm = ChatLLM(llm_server.settings())
    h = llm.health()
    assert h["ok"] is True and h["model"] == "test-model" and h["base_url"] == llm_server.url + "/v1"
    assert "served" in h["detail"]

    llm_server.models = ["other-model"]
    h = llm.health()
    assert h["ok"] is True and "not in the endpoint's list" in h["detail"] and "other-model" in h["detail"]

    llm_server.plan(route="/v1/models", raw=b"<html>a web page</html>", content_type="text/html")
    h = llm.health()
    assert h["ok"] is False and "malformed" in h["detail"] and not any(leak in h["detail"] for leak in LEAKS)

    llm_server.plan(route="/v1/models", status=401)
    h = llm.health()
    assert h["ok"] is False and "401" in h["detail"]

    llm_server.plan(route="/v1/models", delay=3.0)
    start = time.monotonic()
    h = ChatLLM(llm_server.settings(llm_timeout=0.3)).health()
    assert h["ok"] is False and "timeout" in h["detail"] and time.monotonic() - start < 2

    llm_server.stop()
    h = llm.health()
    assert h["ok"] is False and "refused" in h["detail"].lower()


def test_make_llm_and_describe():
    assert make_llm(Settings(openai_api_key=None, openai_base_url=None)) is None
    assert make_llm(Settings(openai_base_url="http://127.0.0.1:9/v1", llm_enabled=False)) is None
    llm = make_llm(Settings(openai_api_key="sk-secret-abc", openai_base_url=None, llm_model="m"))
    assert isinstance(llm, ChatLLM)
    assert llm.describe() == {"backend": "llm", "model": "m", "base_url": "https://api.openai.com/v1"}
    llm = ChatLLM(Settings(openai_api_key=None, openai_base_url="http://user:pw@127.0.0.1:11434/v1/"))
    assert llm.base_url == "http://127.0.0.1:11434/v1" and "pw" not in json.dumps(llm.describe())


# --- tokens --------------------------------------------------------------------------------------


def test_count_tokens_and_fit_to_budget():
    assert count_tokens("") == 0
    assert count_tokens("hello world") == 2
    assert count_tokens("tiktoken is great!") == 6  # the values OpenAI's cookbook gives for cl100k_base
    assert count_tokens("The quick brown fox jumps over the lazy dog.") == 10
    assert count_tokens("<|endoftext|>") > 1  # special-token text counts as plain text, no error
    texts = ["hello world", "hello world", "hello world"]
    assert fit_to_budget(texts, 0) == 0
    assert fit_to_budget(texts, 3) == 1
    assert fit_to_budget(texts, 4) == 2
    assert fit_to_budget(texts, 100) == 3
    assert fit_to_budget([], 10) == 0


def test_split_words_round_trips():
    for text in ["", "a", "a b  c", " lead and trail ", "line\nbreak"]:
        assert "".join(split_words(text)) == text
