"""assistant.llm against a real OpenAI-compatible HTTP server on 127.0.0.1
(tests/llm_server.py) through the real `openai` client: completions, streams,
usage, retries, refusals, malformed answers, broken connections, time bounds,
context overflow, cut replies, health, the context-window probes, and token counting.
Each fault has its own message, and the tests check that it names the cause."""

from __future__ import annotations

import json
import threading

import pytest

from assistant.llm import (ChatLLM, Completion, LLMError, Usage, count_tokens, estimate_prompt_tokens, fit_to_budget,
                           make_llm)
from assistant.settings import Settings
from llm_server import llama_props, ollama_show, split_words

MESSAGES = [{"role": "system", "content": "Answer from the sources."},
            {"role": "user", "content": "What is dense retrieval?"}]
LEAKS = ("Traceback", "AttributeError", "JSONDecodeError", "KeyError", "TypeError")
PROBES = [("GET", "/v1/models"), ("GET", "/props"), ("POST", "/api/show")]
# a prompt of ~1200 tokens: with the default 600-token reply, over a 512-token window
LONG = [{"role": "system", "content": "Answer from the sources."},
        {"role": "user", "content": "retrieval " * 1200}]


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
    assert c.attempts == 1 and c.model == "test-model" and c.finish_reason == "stop" and c.seconds > 0
    assert not c.cut and c.cut_reason == ""
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
    assert not c.cut and c.cut_reason == ""
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


def waits(caplog) -> list[float]:
    """The waits before each retry, as the client logs them ("... retrying in 0.40 s")."""
    return [float(r.getMessage().rsplit("retrying in ", 1)[1].split()[0]) for r in caplog.records
            if "retrying in " in r.getMessage()]


def test_retry_after_is_honoured_only_up_to_llm_retry_max(llm_server, caplog):
    llm_server.plan(status=429, headers={"Retry-After": "0.4"})
    c = ask(ChatLLM(llm_server.settings(llm_retry_initial=0.001, llm_retry_max=0.5)))
    assert c.attempts == 2 and waits(caplog) == [0.4]
    caplog.clear()
    llm_server.plan(status=429, headers={"Retry-After": "30"})  # longer than llm_retry_max: own backoff
    c = ask(ChatLLM(llm_server.settings(llm_retry_initial=0.001, llm_retry_max=0.05)))
    assert c.attempts == 2 and len(waits(caplog)) == 1 and waits(caplog)[0] <= 0.05


def test_429_exhausted_says_rate_limited_and_the_wait_asked(llm_server, caplog):
    for _ in range(3):
        llm_server.plan(status=429, headers={"Retry-After": "0"}, error="Rate limit reached for requests")
    with pytest.raises(LLMError) as info:
        ask(ChatLLM(llm_server.settings(llm_max_attempts=3)))
    err, message = info.value, str(info.value)
    assert err.status == 429 and err.retryable and err.attempts == 3 and len(llm_server.requests) == 3
    assert "rate limited (429; the server asked to wait 0 s)" in message
    assert "Rate limit reached for requests" in message
    assert "gave up after 3 attempts" in message and "PAPERS_LLM_MAX_ATTEMPTS=3" in message
    # a Retry-After longer than llm_retry_max: said, with the setting that capped it
    for _ in range(2):
        llm_server.plan(status=429, headers={"Retry-After": "30"})
    caplog.clear()
    with pytest.raises(LLMError) as info:
        ask(ChatLLM(llm_server.settings(llm_max_attempts=2, llm_retry_max=0.05)))
    assert len(waits(caplog)) == 1 and waits(caplog)[0] <= 0.05  # not the 30 s asked
    assert "asked to wait 30 s, longer than PAPERS_LLM_RETRY_MAX=0.05 s" in str(info.value)


@pytest.mark.parametrize("status, words", [(500, "server error (500)"),
                                           (503, "server unavailable (503: overloaded, or still loading")])
def test_500_and_503_exhausted_name_the_status(llm_server, status, words):
    for _ in range(2):
        llm_server.plan(status=status, error="Loading model")
    with pytest.raises(LLMError) as info:
        ask(ChatLLM(llm_server.settings(llm_max_attempts=2)))
    err = info.value
    assert err.status == status and err.retryable and err.attempts == 2 and not err.overflow
    assert words in str(err) and "Loading model" in str(err) and "gave up after 2 attempts" in str(err)


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
        llm_server.plan(delay=3.0)  # each would be answered after 3 s: an error proves the 0.3 s timeout cut it
    with pytest.raises(LLMError) as info:
        ask(ChatLLM(llm_server.settings(llm_timeout=0.3, llm_max_attempts=3)))
    err = info.value
    assert err.attempts == 3 and len(llm_server.requests) == 3 and err.retryable
    assert "no answer within 0.3 s (timeout; PAPERS_LLM_TIMEOUT" in str(err) and llm_server.url in str(err)


def test_stop_after_delay_bounds_the_total_time(llm_server, caplog):
    for _ in range(40):
        llm_server.plan(status=500)
    settings = llm_server.settings(llm_max_attempts=20, llm_max_retry_seconds=0.6,
                                   llm_retry_initial=0.15, llm_retry_max=0.15)
    with pytest.raises(LLMError) as info:
        ask(ChatLLM(settings))
    # No wait was begun that would end past the 0.6 s budget (the attempts take time too, so
    # the waits sum to less), and the budget, not the 20 attempts, stopped the retries
    # (waits of up to 0.15 s: 19 of them would take about 1.4 s).
    planned = waits(caplog)
    assert len(planned) == info.value.attempts - 1 and all(0 <= w <= 0.15 for w in planned)
    assert sum(planned) <= 0.6
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


def test_404_with_v1_says_model_or_path(llm_server):
    llm_server.plan(status=404, error="The model `test-model` does not exist.")
    with pytest.raises(LLMError) as info:
        ask(ChatLLM(llm_server.settings()))
    message = str(info.value)
    assert "no model 'test-model' there" in message and "PAPERS_LLM_MODEL" in message
    assert "does not exist" in message and "has no /v1" not in message


def test_base_url_without_v1_is_named(llm_server):
    llm = ChatLLM(llm_server.settings(openai_base_url=llm_server.url))
    with pytest.raises(LLMError) as info:
        ask(llm)
    err = info.value
    assert err.status == 404 and err.attempts == 1 and not err.retryable
    assert ("POST", "/chat/completions") in llm_server.hits and llm_server.requests == []  # answered like FastAPI
    assert "the base URL has no /v1 path" in str(err) and f"set OPENAI_BASE_URL={llm_server.url}/v1" in str(err)
    assert "no model" not in str(err)
    _, err = drain(llm.stream(MESSAGES))
    assert err is not None and "has no /v1 path" in str(err)
    h = llm.health()
    assert h["ok"] is False and f"OPENAI_BASE_URL={llm_server.url}/v1" in h["detail"]


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
    assert info.value.attempts == 1 and not info.value.overflow
    if raw == b"not json":
        assert "not valid JSON" in message


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
    assert "malformed response: a stream event is not valid JSON" in str(err) and err.attempts == 1
    llm_server.plan(raw=b'{"choices": []}')  # JSON where a stream was expected
    _, err = drain(ChatLLM(llm_server.settings()).stream(MESSAGES))
    assert err is not None and "the stream carried no events (no OpenAI-style SSE data)" in str(err)


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
    assert "cannot reach the endpoint" in str(err) and "is the server running there? (OPENAI_BASE_URL)" in str(err)
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


def test_stream_cut_without_finish_reason_or_done_is_marked_cut(llm_server):
    deltas = ["Dense ", "retrieval ", "embeds"]
    llm_server.plan(chunks=deltas, stream_cut=True)
    stream = ChatLLM(llm_server.settings()).stream(MESSAGES)
    got, err = drain(stream)
    assert err is None and got == deltas  # the text that came is kept
    c = stream.completion
    assert c.cut and c.finish_reason is None and c.text == "".join(deltas)
    assert c.cut_reason == "the stream ended without a finish reason or [DONE] (the server closed it early)"


def test_reply_cut_by_the_token_limit_is_marked_cut(llm_server):
    llm = ChatLLM(llm_server.settings(llm_max_tokens=64))
    llm_server.plan(text="Dense retrieval embeds", finish_reason="length")
    c = ask(llm)
    assert c.cut and c.finish_reason == "length"
    assert c.cut_reason == "the reply hit the token limit (PAPERS_LLM_MAX_TOKENS=64)"
    llm_server.plan(chunks=["Dense ", "retrieval"], finish_reason="length")
    stream = llm.stream(MESSAGES, max_tokens=20)
    assert "".join(stream) == "Dense retrieval"
    c = stream.completion
    assert c.cut and c.finish_reason == "length" and "max_tokens=20 for this call" in c.cut_reason


def test_closing_a_stream_early_is_quiet(llm_server):
    llm_server.plan(chunks=["a ", "b ", "c"], chunk_delay=0.05)
    with ChatLLM(llm_server.settings()).stream(MESSAGES) as stream:
        assert next(stream) == "a "
    assert stream.completion is None and stream.text == "a "


# --- context overflow ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["openai", "llama.cpp"])
def test_context_overflow_400_is_named_and_not_retried(llm_server, shape):
    llm_server.plan_overflow(n_ctx=2048, prompt_tokens=3000, max_tokens=600, shape=shape)
    llm = ChatLLM(llm_server.settings(llm_max_attempts=4))
    with pytest.raises(LLMError) as info:
        ask(llm)
    err, message = info.value, str(info.value)
    assert err.overflow and err.status == 400 and not err.retryable and err.attempts == 1
    assert len(llm_server.requests) == 1
    assert "does not fit the model's context window" in message
    assert f"about {estimate_prompt_tokens(MESSAGES)} tokens (estimated; the server counted 3000)" in message
    assert "up to 600 for the reply" in message
    assert "the window in use is 8192 tokens, from setting PAPERS_LLM_CONTEXT_TOKENS" in message
    assert "the server says its window is 2048 tokens" in message
    assert "set PAPERS_LLM_CONTEXT_TOKENS to 2048 or less" in message
    assert "PAPERS_ANSWER_PAPERS" in message and "PAPERS_LLM_MAX_TOKENS" in message
    # the window the server named is remembered: the next prompt is built for it
    window, source = llm.context_window()
    assert window == 2048 and source.startswith("the server's context-overflow error")


def test_context_overflow_400_on_a_stream_is_not_retried_without_stream_options(llm_server):
    llm_server.plan_overflow(n_ctx=4096, prompt_tokens=5000)
    _, err = drain(ChatLLM(llm_server.settings()).stream(MESSAGES))
    assert err is not None and err.overflow and not err.mid_stream and err.attempts == 1
    assert len(llm_server.requests) == 1 and "stream_options" in llm_server.requests[0]
    assert "the server says its window is 4096 tokens" in str(err)


def test_other_400s_are_not_overflow(llm_server):
    llm_server.plan(status=400, error="'temperature' must be at most 2")
    with pytest.raises(LLMError) as info:
        ask(ChatLLM(llm_server.settings()))
    assert not info.value.overflow and "context window" not in str(info.value)


def test_empty_stream_over_the_window_is_an_overflow(llm_server):
    llm_server.props = llama_props(n_ctx=1024)
    llm_server.plan(empty_stream=True)
    llm = ChatLLM(llm_server.settings(llm_max_attempts=3))
    stream = llm.stream(LONG)
    got, err = drain(stream)
    prompt = estimate_prompt_tokens(LONG)
    assert got == [] and err is not None and stream.completion is None
    assert err.overflow and not err.retryable and err.attempts == 1 and len(llm_server.requests) == 1
    message = str(err)
    assert "does not fit the model's context window: the stream carried no events" in message
    assert "A llama.cpp server sends an empty stream" in message
    assert f"the prompt (about {prompt} tokens, estimated) plus the reply (up to 600 tokens)" in message
    assert "the window in use is 1024 tokens, from llama.cpp /props n_ctx" in message
    assert f"{prompt} + 600 = {prompt + 600} is over it" in message
    # the window is the server's own: a larger setting cannot help, so the fix is to send less
    assert "send less" in message and "PAPERS_LLM_CONTEXT_TOKENS cannot raise the server's 1024" in message


def test_empty_stream_over_the_setting_names_the_setting(llm_server):
    llm_server.plan(empty_stream=True)
    _, err = drain(ChatLLM(llm_server.settings(llm_context_tokens=512)).stream(LONG))
    assert err is not None and err.overflow and err.attempts == 1
    assert "the window in use is 512 tokens, from setting PAPERS_LLM_CONTEXT_TOKENS" in str(err)
    assert "set PAPERS_LLM_CONTEXT_TOKENS to the server's real window" in str(err)


def test_empty_stream_that_fits_names_the_window_setting_first(llm_server):
    llm_server.plan(empty_stream=True)
    _, err = drain(ChatLLM(llm_server.settings()).stream(MESSAGES))
    assert err is not None and not err.overflow and err.empty_stream and err.attempts == 1
    message = str(err)
    assert message.split(": ", 1)[1].startswith(
        "the stream carried no events (no OpenAI-style SSE data); if the server's context window is smaller "
        "than 8192 tokens, set "
        "PAPERS_LLM_CONTEXT_TOKENS to it")
    assert "malformed" not in message
    assert "A llama.cpp server sends an empty stream" in message
    assert "the window in use is 8192 tokens, from setting PAPERS_LLM_CONTEXT_TOKENS" in message
    assert "set PAPERS_LLM_CONTEXT_TOKENS to it" in message


# --- context window ---------------------------------------------------------------------------


def test_context_window_falls_back_to_the_setting_and_probes_once(llm_server):
    llm = ChatLLM(llm_server.settings(llm_context_tokens=6000))
    assert llm.context_window() == (6000, "setting PAPERS_LLM_CONTEXT_TOKENS (the server reports none)")
    assert [h for h in llm_server.hits] == PROBES  # one try of each, and all 404 but /v1/models
    for _ in range(3):
        assert llm.context_window()[0] == 6000
    assert len(llm_server.hits) == 3  # cached
    ask(llm)
    ask(llm)
    assert len(llm_server.hits) == 5  # answers cost no probe


def test_context_window_from_vllm_max_model_len(llm_server):
    llm_server.api_key = "test-key"  # the probe sends the key
    llm_server.max_model_len = 4096
    llm_server.models = ["other-model", "test-model"]
    assert ChatLLM(llm_server.settings()).context_window() == (
        4096, "vLLM /v1/models max_model_len (smaller than PAPERS_LLM_CONTEXT_TOKENS=8192)")
    assert llm_server.hits == [("GET", "/v1/models")]  # the first probe that answers wins


@pytest.mark.parametrize("top_level", [False, True])
def test_context_window_from_llama_cpp_props(llm_server, top_level):
    llm_server.props = llama_props(n_ctx=2048, top_level=top_level)
    window, source = ChatLLM(llm_server.settings()).context_window()
    assert (window, source) == (2048, "llama.cpp /props n_ctx (smaller than PAPERS_LLM_CONTEXT_TOKENS=8192)")
    assert llm_server.count("POST", "/api/show") == 0


@pytest.mark.parametrize("show, expected", [
    (ollama_show(context_length=4096), (4096, "Ollama /api/show llama.context_length")),
    (ollama_show(context_length=131072, num_ctx=2048), (2048, "Ollama /api/show num_ctx")),
    (ollama_show(context_length=32768, arch="qwen2"), (8192, "setting PAPERS_LLM_CONTEXT_TOKENS (smaller than "
                                                             "the server's 32768 from Ollama /api/show "
                                                             "qwen2.context_length)")),
])
def test_context_window_from_ollama_show(llm_server, show, expected):
    llm_server.ollama_show = show  # answers only for a model it has: the probe must name test-model
    window, source = ChatLLM(llm_server.settings()).context_window()
    assert window == expected[0] and source.startswith(expected[1])
    assert llm_server.hits == PROBES


def test_context_window_equal_to_the_setting_says_both(llm_server):
    llm_server.props = llama_props(n_ctx=8192)
    assert ChatLLM(llm_server.settings()).context_window() == (
        8192, "llama.cpp /props n_ctx, the same as PAPERS_LLM_CONTEXT_TOKENS")


def test_context_window_skips_unreadable_answers(llm_server):
    llm_server.props = llama_props(n_ctx=2048)
    llm_server.plan(route="/v1/models", raw=b"<html>proxy</html>", content_type="text/html")
    llm_server.plan(route="/props", status=500)
    llm_server.ollama_show = ollama_show(context_length=3000)
    assert ChatLLM(llm_server.settings()).context_window()[0] == 3000
    assert llm_server.hits == PROBES


def test_context_window_is_probed_once_across_threads(llm_server):
    llm_server.props = llama_props(n_ctx=2048)
    llm_server.plan(route="/props", delay=0.3)  # slow enough for the threads to meet
    llm = ChatLLM(llm_server.settings())
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(llm.context_window())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 8 and all(r[0] == 2048 for r in results)
    assert llm_server.count("GET", "/props") == 1 and llm_server.count("GET", "/v1/models") == 1


def test_context_window_never_raises_when_the_server_is_down_or_hangs(llm_server):
    settings = llm_server.settings(llm_timeout=0.3, llm_context_tokens=4000)
    llm_server.plan(route="/v1/models", delay=3.0)
    assert ChatLLM(settings).context_window()[0] == 4000
    assert llm_server.hits == [("GET", "/v1/models")]  # one probe timed out, the others were not tried
    llm_server.stop()
    assert ChatLLM(settings).context_window() == (4000, "setting PAPERS_LLM_CONTEXT_TOKENS (the server reports none)")


# --- a real llama.cpp server (llama-cpp-python), when installed --------------------------------


@pytest.fixture(scope="module")
def small_llama(tmp_path_factory):
    """llama-cpp-python's server with a 512-token window (skipped when `make llama` has not
    been run, unless PAPERS_REQUIRE_LLAMA=1)."""
    from llama_server import start_llama

    with start_llama(tmp_path_factory.mktemp("llama512") / "server.log", n_ctx=512) as server:
        yield server


@pytest.mark.slow
@pytest.mark.llama
def test_a_real_llama_cpp_server_over_its_window(small_llama, monkeypatch):
    from llama_server import ALIAS

    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    settings = Settings(openai_base_url=small_llama.base_url, openai_api_key="sk-local", llm_model=ALIAS,
                        llm_max_tokens=16, llm_timeout=60, llm_max_attempts=2, llm_retry_initial=0.01,
                        llm_retry_max=0.05, llm_context_tokens=8192)
    llm = ChatLLM(settings)
    # llama-cpp-python reports its n_ctx on no route: the setting rules
    assert llm.context_window() == (8192, "setting PAPERS_LLM_CONTEXT_TOKENS (the server reports none)")
    long = [{"role": "user", "content": "word " * 700}]  # ~700 tokens, over 512
    # streaming: an empty 200 stream; the estimate fits the 8192 in use, so it is not called an overflow
    _, err = drain(llm.stream(long))
    assert err is not None and not err.overflow and err.attempts == 1
    assert "the stream carried no events" in str(err) and "A llama.cpp server sends an empty stream" in str(err)
    # not streaming: a 400 context_length_exceeded that names the window, which is then remembered
    with pytest.raises(LLMError) as info:
        llm.complete(long)
    assert info.value.overflow and info.value.status == 400
    assert "the server says its window is 512 tokens" in str(info.value)
    assert llm.context_window() == (512, "the server's context-overflow error (smaller than "
                                         "PAPERS_LLM_CONTEXT_TOKENS=8192)")
    _, err = drain(llm.stream(long))
    assert err is not None and err.overflow and "the window in use is 512 tokens" in str(err)
    # a base URL without /v1: FastAPI's 404, named as such
    root = small_llama.base_url[:-len("/v1")]
    with pytest.raises(LLMError) as info:
        ChatLLM(Settings(openai_base_url=root, openai_api_key="sk-local", llm_model=ALIAS)).complete(MESSAGES)
    assert f"set OPENAI_BASE_URL={root}/v1" in str(info.value) and info.value.attempts == 1


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
    h = ChatLLM(llm_server.settings(llm_timeout=0.3)).health()
    assert h["ok"] is False and "timeout" in h["detail"]

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
